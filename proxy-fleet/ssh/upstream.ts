/**
 * The gateway's connection to an SSH host: it logs in with the key it holds, and trusts the
 * host only if it presents exactly the pinned key (no trust on first use).
 */
import ssh2 from 'ssh2';

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: string;
  /** "ssh-ed25519 AAAA…": the only host key accepted. */
  readonly hostKey: string;
}

export class SshUpstreamError extends Error {
  override readonly name = 'SshUpstreamError';
}

/** The key blob of a public key line ("type base64 [comment]"). */
export function hostKeyBlob(line: string): Buffer {
  return Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
}

export function openSshUpstream(target: SshTarget, timeoutMs = 10_000): Promise<ssh2.Client> {
  const pinned = hostKeyBlob(target.hostKey);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let presented: Buffer | undefined;
    client.once('ready', () => resolve(client));
    client.once('error', (error: Error & { level?: string }) => {
      client.end();
      if (presented && !presented.equals(pinned)) {
        reject(new SshUpstreamError(`the host at ${target.host}:${target.port} presented a key that is not the pinned hostKey; if the host was rebuilt, update hostKey in the config`));
      } else if (error.level === 'client-authentication') {
        reject(new SshUpstreamError(`the host at ${target.host}:${target.port} refused the gateway's key for user ${target.user}; add the gateway's public key to that user's authorized_keys`));
      } else {
        reject(new SshUpstreamError(`cannot reach the host at ${target.host}:${target.port} (${error.message})`));
      }
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: timeoutMs,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        presented = key;
        return key.equals(pinned);
      },
    });
  });
}
