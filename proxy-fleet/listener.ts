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
  close(): Promise<void>;
}

/** Starts `server` listening where the options say, and resolves with where it listens (port 0 picks one). */
export async function listenOn(server: EventEmitter & { listen(port: number, host: string): unknown; address(): unknown }, options: ListenerOptions): Promise<{ host: string; port: number }> {
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  return { host: address, port };
}
