/**
 * Sends hostile bytes to the PostgreSQL proxy at a chosen point of a connection (first bytes,
 * after StartupMessage, after a full login) and collects everything the proxy answers until it
 * closes the connection. The client hangs up (half-close) at once, after a pause, or never; a
 * proxy that has not closed within the timeout after that fails the probe.
 */
import { connect, type Socket } from 'node:net';
import { BackendParser, serialize, type BackendMessage } from '../../../proxy-fleet/postgres/protocol/index.js';
import { loginWire, openWire, type WireClient } from '../../helpers/pg-wire.js';
import type { Phase } from './hostile-pg-inputs.js';

export interface ProbeResult {
  /** What the proxy sent after the hostile bytes (for the startup phase: from the first byte on). */
  readonly messages: readonly BackendMessage[];
  /** The one-byte answer to an SSLRequest, when the input began with one. */
  readonly sslAnswer?: 'S' | 'N';
}

const SSL_REQUEST = serialize.sslRequest();
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * When the client half-closes after sending: 0 at once; a number of ms, if the proxy has not
 * closed by then (it may still be waiting for the rest of a message); undefined never, so the
 * proxy itself must close.
 */
export type HangUp = number | undefined;

export async function probe(port: number, phase: Phase, bytes: Buffer, token: string, hangUpAfterMs: HangUp): Promise<ProbeResult> {
  if (phase === 'startup') return probeFirstBytes(port, bytes, hangUpAfterMs);
  const wire = phase === 'ready' ? await loginWire(port, token, 'app', 'hostile') : await startupOnly(port);
  wire.send(bytes);
  hangUpLater(wire.socket, hangUpAfterMs);
  return { messages: await closedWithin(wire) };
}

function hangUpLater(socket: Socket, hangUpAfterMs: HangUp): void {
  if (hangUpAfterMs === undefined) return;
  const timer = setTimeout(() => socket.end(), hangUpAfterMs);
  socket.once('close', () => clearTimeout(timer));
}

async function startupOnly(port: number): Promise<WireClient> {
  const wire = await openWire(port);
  wire.send(serialize.startup({ user: 'hostile', database: 'app' }));
  await wire.readUntil((m) => m.name === 'authentication' && m.kind === 3);
  return wire;
}

function closedWithin(wire: WireClient): Promise<BackendMessage[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      wire.socket.destroy();
      reject(new Error(`the proxy kept the connection open ${CLOSE_TIMEOUT_MS} ms after the hostile bytes`));
    }, CLOSE_TIMEOUT_MS);
    void wire.closed().then((messages) => {
      clearTimeout(timer);
      resolve(messages);
    });
  });
}

/** Raw bytes, since an SSLRequest's one-byte answer is no message and TLS may follow it. */
function probeFirstBytes(port: number, bytes: Buffer, hangUpAfterMs: HangUp): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the proxy kept the connection open ${CLOSE_TIMEOUT_MS} ms after the hostile bytes`));
    }, CLOSE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // The proxy may close while a large input is still being written (EPIPE, ECONNRESET).
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(decodeFirstReplies(bytes, Buffer.concat(received)));
      } catch (error) {
        reject(error);
      }
    });
    socket.once('connect', () => {
      socket.write(bytes);
      hangUpLater(socket, hangUpAfterMs);
    });
  });
}

function decodeFirstReplies(sent: Buffer, reply: Buffer): ProbeResult {
  const startsWithSslRequest = sent.subarray(0, 8).equals(SSL_REQUEST);
  const first = String.fromCharCode(reply[0] ?? 0);
  if (startsWithSslRequest && (first === 'S' || first === 'N')) {
    // After S the rest is TLS, not PostgreSQL messages.
    return { sslAnswer: first, messages: first === 'S' ? [] : new BackendParser().push(reply.subarray(1)) };
  }
  return { messages: new BackendParser().push(reply) };
}
