/**
 * The sessions a listener is serving, and the poll that ends the ones the control plane says
 * must end (token or chain revoked, token expired, grant ended), within one interval.
 */
import type { ControlPlaneClient } from './control-plane-client.js';

export interface EndableSession {
  /** The control-plane session id, once the client has logged in. */
  readonly sessionId: string | undefined;
  terminate(reason: string): void;
}

export class LiveSessions<S extends EndableSession> {
  private readonly sessions = new Set<S>();
  private readonly poll: NodeJS.Timeout;

  constructor(controlPlane: ControlPlaneClient, intervalMs: number, log: (event: Record<string, unknown>) => void) {
    this.poll = setInterval(() => {
      const byId = new Map([...this.sessions].flatMap((session) => (session.sessionId ? [[session.sessionId, session] as const] : [])));
      if (byId.size === 0) return;
      controlPlane.sessionsToEnd([...byId.keys()]).then(
        (end) => {
          for (const { sessionId, reason } of end) byId.get(sessionId)?.terminate(reason);
        },
        (error: unknown) => log({ event: 'session-status-poll-failed', error: String(error) }),
      );
    }, intervalMs);
    this.poll.unref();
  }

  add(session: S): void {
    this.sessions.add(session);
  }

  delete(session: S): void {
    this.sessions.delete(session);
  }

  stop(): void {
    clearInterval(this.poll);
  }

  terminateAll(reason: string): void {
    for (const session of [...this.sessions]) session.terminate(reason);
  }
}
