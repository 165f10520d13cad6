/** What every listener of the proxy fleet (PostgreSQL, SSH, Kubernetes) is started with and gives back. */
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
