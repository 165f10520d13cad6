/** The PostgreSQL listener of the proxy fleet: one ClientSession per accepted connection. */
import { createServer } from 'node:net';
import { ApprovalWaiter } from '../approval-waiter.js';
import { listenOn, SHUTDOWN_REASON, type Listener, type ListenerOptions } from '../listener.js';
import { LiveSessions } from '../live-sessions.js';
import { CancelRegistry } from './cancel-registry.js';
import { Catalog } from './catalog.js';
import { ClientSession, type ClientTls } from './client-session.js';
import type { UpstreamTarget } from './upstream.js';

export interface PostgresProxyOptions extends ListenerOptions {
  readonly targets: ReadonlyMap<string, UpstreamTarget>;
  readonly tls?: ClientTls;
  /** A client not logged in this long after connecting is told so and disconnected. */
  readonly loginTimeoutSeconds: number;
}

export async function startPostgresProxy(options: PostgresProxyOptions): Promise<Listener> {
  const cancels = new CancelRegistry();
  const catalogs = new Map<string, Catalog>();
  const catalogFor = (connection: string) => {
    let catalog = catalogs.get(connection);
    if (!catalog) {
      catalog = new Catalog(options.targets.get(connection)!);
      catalogs.set(connection, catalog);
    }
    return catalog;
  };
  const log = options.log ?? ((event) => console.error(JSON.stringify({ component: 'postgres-proxy', ...event })));
  const approvals = new ApprovalWaiter((ids) => options.controlPlane.approvalStatuses(ids), options.approvalPollMs ?? 1000, log);
  // Revoked or expired sessions end within one poll (plus the control plane's revocation cache).
  const live = new LiveSessions<ClientSession>(options.controlPlane, options.statusPollMs ?? 2000, log);
  const server = createServer((socket) => {
    const session = new ClientSession({ socket, controlPlane: options.controlPlane, approvals, targets: options.targets, cancels, catalogFor, log, loginTimeoutSeconds: options.loginTimeoutSeconds, ...(options.tls ? { tls: options.tls } : {}) });
    live.add(session);
    socket.on('close', () => live.delete(session));
  });
  const { host, port, stopListening } = await listenOn(server, options);
  return {
    host,
    port,
    drain: stopListening,
    close: async () => {
      live.stop();
      // Each client gets a FATAL admin_shutdown naming the reason; its socket is gone within a second.
      live.terminateAll(SHUTDOWN_REASON);
      for (const catalog of catalogs.values()) catalog.close();
      await stopListening();
    },
  };
}
