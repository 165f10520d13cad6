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
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'warden-gateway' });
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, pair.private, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    privateKey = pair.private;
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`the SSH host key at ${path} does not parse (${parsed.message}); remove it to make a new one`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  return { privateKey, publicKey: `${key.type} ${key.getPublicSSH().toString('base64')}` };
}
