/** WARDEN_TOKEN_AUDIENCE: every token also carries the deployment's audience, which never opens a connection. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { WardenError } from '../../core/errors.js';
import { loadOrCreateEcKey } from '../../functions/lib/key-files.js';
import { buildLambdaRuntime, LambdaEnvironmentError } from '../../functions/lib/lambda-runtime.js';
import { localTokenKey, TokenService, type TokenKey } from '../../functions/lib/tokens.js';
import { startLocalKms, type LocalKms } from '../helpers/local-kms.js';

const ISSUER = 'https://api.warden.example';
const request = { sub: 'alice', groups: ['eng'], audience: ['orders'], scope: 'connect' };
const wrongAudience = (error: unknown) => error instanceof WardenError && error.code === 'WRONG_AUDIENCE';

describe('the deployment audience of Warden tokens', () => {
  let dir: string;
  let key: TokenKey;
  let deployed: TokenService;
  let local: TokenService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-aud-'));
    key = localTokenKey(await loadOrCreateEcKey(join(dir, 'token.jwk')));
    deployed = new TokenService(key, ISSUER, 900, { deploymentAudience: 'warden' });
    local = new TokenService(key, ISSUER, 900);
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('puts it in `aud` beside the connections, where a gateway requiring it accepts the token', async () => {
    const { token, claims } = await deployed.issue(request);
    assert.deepEqual(decodeJwt(token).aud, ['orders', 'warden']);
    assert.deepEqual(claims.aud, ['orders']);
    await jwtVerify(token, createLocalJWKSet(deployed.jwks()), { issuer: ISSUER, audience: 'warden' });
  });

  it('opens the connections the token names and no other', async () => {
    const { token } = await deployed.issue(request);
    assert.deepEqual((await deployed.verify(token, 'orders')).aud, ['orders']);
    assert.deepEqual((await deployed.verify(token)).aud, ['orders']);
    await assert.rejects(deployed.verify(token, 'billing'), wrongAudience);
  });

  it('never opens a connection named like the deployment audience', async () => {
    const { token } = await deployed.issue(request);
    await assert.rejects(deployed.verify(token, 'warden'), wrongAudience);
  });

  it('leaves tokens without it as they were', async () => {
    const { token, claims } = await local.issue(request);
    assert.deepEqual(decodeJwt(token).aud, ['orders']);
    assert.deepEqual(claims.aud, ['orders']);
    assert.deepEqual((await local.verify(token, 'orders')).aud, ['orders']);
    await assert.rejects(local.verify(token, 'billing'), wrongAudience);
  });
});

describe('WARDEN_TOKEN_AUDIENCE in Lambda', () => {
  let kms: LocalKms;
  let env: Record<string, string>;

  before(async () => {
    kms = await startLocalKms();
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_KMS: kms.endpoint });
    env = {
      AWS_REGION: 'eu-west-1',
      WARDEN_TABLE_PREFIX: 'warden-aud-test',
      WARDEN_CONFIG_YAML: 'connections:\n  orders: { kind: postgres, host: orders.internal, database: orders, user: warden }\n',
      WARDEN_TOKEN_KEY_ID: kms.createKey('RSA_2048'),
      WARDEN_TOKEN_ISSUER: ISSUER,
      WARDEN_TOKEN_AUDIENCE: 'warden',
    };
  });

  after(() => kms.close());

  it('is carried by the tokens the runtime issues', async () => {
    const { tokens } = await buildLambdaRuntime(env);
    const { token } = await tokens.issue(request);
    await jwtVerify(token, createLocalJWKSet(tokens.jwks()), { issuer: ISSUER, audience: 'warden', algorithms: ['RS256'] });
    assert.deepEqual((await tokens.verify(token, 'orders')).aud, ['orders']);
  });

  it('may not also name a connection', async () => {
    await assert.rejects(
      buildLambdaRuntime({ ...env, WARDEN_TOKEN_AUDIENCE: 'orders' }),
      (error: Error) => error instanceof LambdaEnvironmentError && /WARDEN_TOKEN_AUDIENCE "orders" is also the name of a connection/.test(error.message),
    );
  });
});
