/** A bare protocol-level PostgreSQL client for tests that need exact control of the bytes. */
import { connect, type Socket } from 'node:net';
import { BackendParser, serialize, type BackendMessage } from '../../proxy-fleet/postgres/protocol/index.js';

export interface WireClient {
  readonly socket: Socket;
  /** The BackendKeyData the login gave (loginWire only). */
  readonly backendKey?: { readonly processId: number; readonly secretKey: Buffer };
  send(...messages: Buffer[]): void;
  /** Reads messages until `done` says so (the message that satisfied it included). */
  readUntil(done: (message: BackendMessage) => boolean, timeoutMs?: number): Promise<BackendMessage[]>;
  /** Resolves when the server closes the connection, with everything it sent before. */
  closed(): Promise<BackendMessage[]>;
}

export function openWire(port: number): Promise<WireClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parser = new BackendParser();
    const inbox: BackendMessage[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      inbox.push(...parser.push(chunk));
      wake?.();
    });
    socket.on('close', () => {
      ended = true;
      wake?.();
    });
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        send: (...messages) => socket.write(Buffer.concat(messages)),
        readUntil: (done, timeoutMs = 10_000) =>
          new Promise((resolveRead, rejectRead) => {
            const taken: BackendMessage[] = [];
            const timer = setTimeout(() => rejectRead(new Error(`timed out; got ${taken.map((m) => m.name).join(', ')}`)), timeoutMs);
            const drain = () => {
              while (inbox.length > 0) {
                const message = inbox.shift()!;
                taken.push(message);
                if (done(message)) {
                  clearTimeout(timer);
                  wake = undefined;
                  resolveRead(taken);
                  return;
                }
              }
              if (ended) {
                clearTimeout(timer);
                rejectRead(new Error(`connection closed; got ${taken.map((m) => m.name).join(', ')}`));
              }
            };
            wake = drain;
            drain();
          }),
        closed: () =>
          new Promise((resolveClosed) => {
            const check = () => {
              if (ended) resolveClosed(inbox.splice(0));
            };
            wake = check;
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Startup and password (the Warden token) until the first ReadyForQuery. */
export async function loginWire(port: number, token: string, database: string, user = 'wire'): Promise<WireClient> {
  const client = await openWire(port);
  client.send(serialize.startup({ user, database }));
  await client.readUntil((m) => m.name === 'authentication' && m.kind === 3);
  client.send(serialize.password(token));
  const messages = await client.readUntil((m) => m.name === 'readyForQuery' || m.name === 'errorResponse');
  const last = messages.at(-1)!;
  if (last.name === 'errorResponse') throw new Error(`login refused: ${last.fields.M}`);
  const key = messages.find((m) => m.name === 'backendKeyData');
  return key?.name === 'backendKeyData' ? { ...client, backendKey: { processId: key.processId, secretKey: key.secretKey } } : client;
}
