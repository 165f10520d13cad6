/** What every listener of the proxy fleet (PostgreSQL, SSH, Kubernetes) is started with and gives back. */
import { once, type EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ControlPlaneClient } from './control-plane-client.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly controlPlane: ControlPlaneClient;
  /** How often to ask the control plane which sessions must end (revocation, expiry, an ended grant). */
  readonly statusPollMs?: number;
  /** How often to ask about approvals that held commands wait for. */
  readonly approvalPollMs?: number;
  readonly log?: (event: Record<string, unknown>) => void;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops taking connections; resolves once every open one has ended by itself. */
  drain(): Promise<void>;
  /** Ends every open session now, telling its client why (SHUTDOWN_REASON), and stops listening. */
  close(): Promise<void>;
}

/** What a client, and the session's `session.end` entry, are told when the gateway stops. */
export const SHUTDOWN_REASON = 'the gateway is shutting down';

type Server = EventEmitter & { listen(port: number, host: string): unknown; address(): unknown; close(callback: () => void): unknown };

/**
 * Starts `server` listening where the options say, and resolves with where it listens (port 0
 * picks one). `stopListening` closes it once, however often it is called, and resolves when
 * its last connection has ended.
 */
export async function listenOn(server: Server, options: ListenerOptions): Promise<{ host: string; port: number; stopListening: () => Promise<void> }> {
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  const stopListening = () => (stopped ??= new Promise<void>((resolve) => server.close(() => resolve())));
  return { host: address, port, stopListening };
}
