/**
 * Raw TCP probes of an SSH server: send hostile bytes where the identification line or the
 * first binary packets belong, and see what the server sends back and whether it closes.
 */
import { connect, type Socket } from 'node:net';

export interface SshProbeResult {
  /** Everything the server sent, its identification line included. */
  readonly received: Buffer;
  /** The server closed the connection before the client gave up waiting. */
  readonly closedByServer: boolean;
}

/** A connected socket and everything it has received so far. */
export interface OpenProbe {
  readonly socket: Socket;
  received(): Buffer;
  /** Resolves once at least `bytes` have arrived (or the connection closed). */
  receivedAtLeast(bytes: number): Promise<Buffer>;
}

export function openProbe(port: number): Promise<OpenProbe> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let size = 0;
    const waiters = new Set<() => void>();
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      for (const wake of waiters) wake();
    });
    socket.on('close', () => {
      for (const wake of waiters) wake();
    });
    // A server that resets a hostile connection is one way of closing it.
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => Buffer.concat(chunks),
        receivedAtLeast: (bytes) =>
          new Promise((resolveBytes) => {
            const check = () => {
              if (size < bytes && !socket.destroyed) return;
              waiters.delete(check);
              resolveBytes(Buffer.concat(chunks));
            };
            waiters.add(check);
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Sends `bytes` (then half-closes when `hangUp`), and waits up to `timeoutMs` for the server to close. */
export async function probeSsh(port: number, bytes: Buffer, options: { hangUp?: boolean; timeoutMs?: number } = {}): Promise<SshProbeResult> {
  const probe = await openProbe(port);
  return sendAndWait(probe, bytes, options);
}

export function sendAndWait(probe: OpenProbe, bytes: Buffer, { hangUp = false, timeoutMs = 10_000 } = {}): Promise<SshProbeResult> {
  const { socket } = probe;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: probe.received(), closedByServer: false });
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ received: probe.received(), closedByServer: true });
    });
    if (hangUp) socket.end(bytes);
    else socket.write(bytes);
  });
}

/** An SSH binary packet (RFC 4253 §6) without MAC, as sent before the first key exchange completes. */
export function sshPacket(payload: Buffer, lengthSaid?: number): Buffer {
  // Length, padding length, payload and padding fill whole 8-byte blocks; at least 4 bytes of padding.
  const short = 8 - ((5 + payload.length) % 8);
  const padding = short < 4 ? short + 8 : short;
  const header = Buffer.alloc(5);
  header.writeUInt32BE(lengthSaid ?? payload.length + padding + 1, 0);
  header[4] = padding;
  return Buffer.concat([header, payload, Buffer.alloc(padding)]);
}
