/**
 * Local signing keys, kept as files (mode 0600) in the state directory and created on
 * first use. In AWS the same roles are played by KMS keys and Secrets Manager.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { generateNoteKey, parseSignerKey, type Ed25519NoteSigner } from '../../core/ledger/signed-note.js';

export interface EcSigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** An ES256 key pair stored as a private JWK. */
export async function loadOrCreateEcKey(path: string): Promise<EcSigningKey> {
  const text = await readOrCreate(path, async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    return JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256' });
  });
  const jwk = JSON.parse(text) as JWK;
  const { d: _private, ...publicJwk } = jwk;
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    privateKey: (await importJWK(jwk, 'ES256')) as CryptoKey,
    publicKey: (await importJWK(publicJwk, 'ES256')) as CryptoKey,
    publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' },
  };
}

/** A random secret, such as the HMAC key for payload digests. */
export async function loadOrCreateSecret(path: string, bytes = 32): Promise<Buffer> {
  const text = await readOrCreate(path, async () => randomBytes(bytes).toString('base64'));
  return Buffer.from(text, 'base64');
}

/** The log's Ed25519 checkpoint key, as a signed-note skey; the public vkey is written beside it. */
export async function loadOrCreateNoteKey(path: string, name: string): Promise<Ed25519NoteSigner> {
  const skey = await readOrCreate(path, async () => generateNoteKey(name).skey);
  const signer = parseSignerKey(skey);
  await writeFile(`${path.replace(/\.skey$/, '')}.vkey`, `${signer.vkey}\n`, { mode: 0o644 });
  return signer;
}

async function readOrCreate(path: string, create: () => Promise<string>): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // 'wx' fails if another process created the file first; then its key wins, read below.
  await writeFile(path, `${await create()}\n`, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return (await readFile(path, 'utf8')).trim();
}
