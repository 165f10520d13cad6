/**
 * A TCP relay on loopback that a fault test puts between the control plane and its store, to
 * make the store unavailable (the port refuses connections and open ones are cut), silent
 * (connections stay open and every byte is dropped, as behind a partition that lost their
 * flows), or slow (every chunk, either way, is held for a delay, order kept), then well again
 * on the same port.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface FaultRelay {
  /** host:port URL of the relay, for the client to use instead of the target's. */
  readonly url: string;
  /** Closes the port and cuts every open connection, as a store that went away. */
  down(): Promise<void>;
  /** Holds every chunk for `delayMs` before passing it on; 0 passes at once. */
  slow(delayMs: number): void;
  /** Drops every byte of the connections open now, for good, and of new ones until up(): they never answer. */
  silence(): void;
  /** Listens again on the same port, passing at once on new connections. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultRelay(target: { host: string; port: number }): Promise<FaultRelay> {
  const sockets = new Set<Socket>();
  /** Connections whose bytes are dropped. */
  const silenced = new WeakSet<Socket>();
  let silent = false;
  let delayMs = 0;
  let port = 0;
  let server: Server | undefined;

  const relay = (client: Socket) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      if (silent) silenced.add(socket);
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', cut);
    upstream.on('close', cut);
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  };

  /** Each chunk leaves `delayMs` after it arrived, never before the chunk ahead of it. */
  const pipeDelayed = (from: Socket, to: Socket) => {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      if (silenced.has(from)) return;
      const due = Date.now() + delayMs;
      chain = chain.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.on('end', () => void chain.then(() => to.end()));
  };

  const listen = async () => {
    server = createServer(relay);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const stopListening = async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    const closed = new Promise((resolve) => closing.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    down: stopListening,
    slow: (ms) => {
      delayMs = ms;
    },
    silence: () => {
      silent = true;
      for (const socket of sockets) silenced.add(socket);
    },
    up: async () => {
      delayMs = 0;
      silent = false;
      if (!server) await listen();
    },
    close: stopListening,
  };
}
