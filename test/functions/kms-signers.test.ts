/**
 * The KMS-backed signers against a local KMS that speaks the SDK's JSON 1.1 protocol: signed
 * notes open with the vkey built from GetPublicKey, and RS256 Warden tokens verify with the
 * published JWKS and nothing else.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KMSClient } from '@aws-sdk/client-kms';
import { base64url, createLocalJWKSet, jwtVerify } from 'jose';
import { openNote, parseVerifierKey, signNote } from '../../core/ledger/signed-note.js';
import { KmsKeyError, kmsNoteSigner, kmsTokenKey } from '../../functions/lib/kms-signers.js';
import { TokenService } from '../../functions/lib/tokens.js';
import { localClientConfig } from '../helpers/aws-json-server.js';
import { startLocalKms, type LocalKms } from '../helpers/local-kms.js';

const ORIGIN = 'warden.example/ledger';
const CHECKPOINT = `${ORIGIN}\n7\nW0Rq6sbMqL9P7mHl5kmfrLb9jwBzt0m1TZAYA8kLh7s=\n`;

describe('KMS signers', () => {
  let kms: LocalKms;
  let client: KMSClient;
  before(async () => {
    kms = await startLocalKms();
    client = new KMSClient(localClientConfig(kms.endpoint));
  });
  after(() => kms.close());

  it('signs a checkpoint that opens with the vkey from GetPublicKey, and a tampered one does not', async () => {
    const signer = await kmsNoteSigner(client, kms.createKey('ECC_NIST_EDWARDS25519'), ORIGIN);
    const note = await signNote(CHECKPOINT, [signer]);
    const verifier = parseVerifierKey(signer.vkey);
    assert.equal(openNote(note, [verifier]).text, CHECKPOINT);
    assert.throws(() => openNote(note.replace('\n7\n', '\n8\n'), [verifier]), { code: 'BAD_SIGNATURE' });
    assert.deepEqual(kms.calls, ['GetPublicKey', 'Sign']);
  });

  it('refuses a key of the wrong spec', async () => {
    await assert.rejects(kmsNoteSigner(client, kms.createKey('RSA_2048'), ORIGIN), KmsKeyError);
    await assert.rejects(kmsTokenKey(client, kms.createKey('ECC_NIST_EDWARDS25519')), KmsKeyError);
  });

  describe('RS256 Warden tokens', () => {
    let tokens: TokenService;
    let foreign: TokenService;
    before(async () => {
      tokens = new TokenService(await kmsTokenKey(client, kms.createKey('RSA_2048')), 'https://warden.example', 900);
      foreign = new TokenService(await kmsTokenKey(client, kms.createKey('RSA_2048')), 'https://warden.example', 900);
    });
    const request = { sub: 'alice', groups: ['dba'], audience: ['orders'], scope: 'connect' };

    it('verify with the published JWKS, as the JWT authorizer does, and with the service', async () => {
      const { token, claims } = await tokens.issue(request);
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(tokens.jwks()), { issuer: 'https://warden.example', audience: 'orders', algorithms: ['RS256'] });
      assert.equal(protectedHeader.alg, 'RS256');
      assert.equal(protectedHeader.kid, tokens.jwks().keys[0]?.kid);
      assert.equal(payload.sub, 'alice');
      assert.deepEqual(await tokens.verify(token, 'orders'), claims);
    });

    it('refuses a token signed by another key', async () => {
      const { token } = await foreign.issue(request);
      await assert.rejects(tokens.verify(token), { code: 'FOREIGN_TOKEN' });
      await assert.rejects(jwtVerify(token, createLocalJWKSet(tokens.jwks())));
    });

    it('refuses alg none and an ES256 token carrying the RSA key id', async () => {
      const { token } = await tokens.issue(request);
      const payload = token.split('.')[1]!;
      const kid = tokens.jwks().keys[0]?.kid;
      const none = `${base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }))}.${payload}.`;
      await assert.rejects(tokens.verify(none), { code: 'INVALID_TOKEN' });
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const esInput = `${base64url.encode(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }))}.${payload}`;
      const es = `${esInput}.${base64url.encode(sign('sha256', Buffer.from(esInput), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
      await assert.rejects(tokens.verify(es), { code: 'INVALID_TOKEN' });
    });
  });
});
