/** The gateway's own SSH host key: made once, kept in the state directory, so clients can pin it. */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import ssh2 from 'ssh2';

export interface GatewayHostKey {
  readonly privateKey: string;
  /** "ssh-ed25519 AAAA…", for clients' known_hosts. */
  readonly publicKey: string;
}

export async function loadOrCreateHostKey(path: string): Promise<GatewayHostKey> {
  let privateKey: string;
  try {
    privateKey = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    privateKey = generateParsableKey();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, privateKey, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  }
  try {
    return hostKeyFromPrivateKey(privateKey);
  } catch (error) {
    throw new Error(`the SSH host key at ${path} ${(error as Error).message}; remove it to make a new one`);
  }
}

/**
 * A host key given as text (WARDEN_SSH_HOST_KEY), for a fleet whose tasks must all serve the same
 * one. Throws "does not parse (…)" or "is not a private key" (never quoting the key) when unusable.
 */
export function hostKeyFromPrivateKey(privateKey: string): GatewayHostKey {
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`does not parse (${parsed.message})`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new Error('does not parse (no key in it)');
  if (!key.isPrivateKey()) throw new Error('is not a private key (it is a public key)');
  return { privateKey, publicKey: `${key.type} ${key.getPublicSSH().toString('base64')}` };
}

/**
 * ssh2 1.17's generator now and then (about 1 key in 200, measured) writes an OpenSSH key its own
 * parser rejects as malformed; such a key would stop the gateway on its next start. Keep the first
 * one that parses.
 */
function generateParsableKey(): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'warden-gateway' });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair.private;
  }
  throw new Error('could not generate an SSH host key that ssh2 parses');
}
