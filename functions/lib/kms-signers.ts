/**
 * Signers whose private keys never leave KMS (infra/constructs/signing-keys.ts): the log's
 * Ed25519 key for signed notes, and the RSA key for RS256 Warden tokens. Each reads its public
 * key once (GetPublicKey) when built, and checks the key is the kind it signs with.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KeySpec, type KMSClient, type MessageType, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { ed25519KeyId, formatVerifierKey, type Ed25519NoteSigner } from '../../core/ledger/signed-note.js';
import type { TokenKey } from './tokens.js';

/** The KMS key is not the one this signer needs (wrong spec, usage or algorithm). */
export class KmsKeyError extends Error {
  override readonly name = 'KmsKeyError';
}

/** A NoteSigner for the log: KMS Sign with ED25519_SHA_512 over the raw note text, as RFC 8032 Ed25519 signs it. */
export async function kmsNoteSigner(client: KMSClient, keyId: string, name: string): Promise<Ed25519NoteSigner> {
  const publicKey = await kmsPublicKey(client, keyId, 'ECC_NIST_EDWARDS25519', 'ED25519_SHA_512');
  // The JWK's x is the raw 32-byte public key; the SPKI around it is fixed.
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const noteKeyId = ed25519KeyId(name, raw);
  return {
    name,
    keyId: noteKeyId,
    vkey: formatVerifierKey(name, noteKeyId, raw),
    sign: (message) => kmsSign(client, keyId, 'ED25519_SHA_512', 'RAW', message),
  };
}

/** A TokenKey for RS256: KMS signs the SHA-256 digest of the JWS signing input (RSASSA-PKCS1-v1_5). */
export async function kmsTokenKey(client: KMSClient, keyId: string): Promise<TokenKey> {
  const publicKey = await kmsPublicKey(client, keyId, 'RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return {
    alg: 'RS256',
    kid,
    publicKey,
    publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' },
    sign: (signingInput) => kmsSign(client, keyId, 'RSASSA_PKCS1_V1_5_SHA_256', 'DIGEST', createHash('sha256').update(signingInput).digest()),
  };
}

async function kmsPublicKey(client: KMSClient, keyId: string, keySpec: KeySpec, algorithm: SigningAlgorithmSpec): Promise<KeyObject> {
  const key = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (key.KeySpec !== keySpec || key.KeyUsage !== 'SIGN_VERIFY' || !key.SigningAlgorithms?.includes(algorithm) || !key.PublicKey) {
    throw new KmsKeyError(`KMS key ${keyId} is ${key.KeySpec ?? 'of unknown spec'} for ${key.KeyUsage ?? 'unknown usage'}; expected a ${keySpec} SIGN_VERIFY key that signs with ${algorithm}`);
  }
  return createPublicKey({ key: Buffer.from(key.PublicKey), format: 'der', type: 'spki' });
}

async function kmsSign(client: KMSClient, keyId: string, algorithm: SigningAlgorithmSpec, messageType: MessageType, message: Uint8Array): Promise<Uint8Array> {
  const { Signature } = await client.send(new SignCommand({ KeyId: keyId, SigningAlgorithm: algorithm, MessageType: messageType, Message: message }));
  if (!Signature) throw new KmsKeyError(`KMS Sign with key ${keyId} returned no signature`);
  return Signature;
}
