/**
 * kubectl sends its bearer token with every request; the gateway keeps one Warden session per
 * token and connection, started on first use, and numbers the session's requests. A session ends
 * when the control plane says so (revocation, expiry, an ended grant: its streams are cut and the
 * token must start a new session, which the control plane refuses if it is revoked), when the
 * token expires, or after an idle spell.
 */
import { createHash } from 'node:crypto';
import type { SessionStartRequest, SessionStartResponse } from '../../core/contract.js';
import { detectorById, type Detector } from '../../core/masking/detectors.js';
import type { ControlPlaneClient } from '../control-plane-client.js';
import { SHUTDOWN_REASON } from '../listener.js';
import type { EndableSession } from '../live-sessions.js';

const IDLE_END_MS = 10 * 60_000;
const SWEEP_MS = 30_000;

export class KubernetesSession implements EndableSession {
  readonly detectors: Detector[];
  private commands = 0;
  private readonly streams = new Set<AbortController>();
  ended: string | undefined;
  lastUsed = Date.now();

  constructor(
    readonly started: SessionStartResponse,
    private readonly onEnd: (session: KubernetesSession) => void,
  ) {
    this.detectors = started.masking.detectors.map((id) => detectorById(id)).filter((detector) => detector !== undefined);
  }

  get sessionId(): string {
    return this.started.sessionId;
  }

  nextCommandId(): number {
    this.lastUsed = Date.now();
    return this.commands++;
  }

  /** A signal that aborts when the session ends: requests in flight and open streams stop. */
  track(): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    if (this.ended) controller.abort(this.ended);
    this.streams.add(controller);
    return { signal: controller.signal, done: () => this.streams.delete(controller) };
  }

  /** Whether a request or stream of the session is in flight. */
  get busy(): boolean {
    return this.streams.size > 0;
  }

  terminate(reason: string): void {
    if (this.ended) return;
    this.ended = reason;
    for (const stream of this.streams) stream.abort(reason);
    this.streams.clear();
    this.onEnd(this);
  }
}

export class KubernetesSessions {
  private readonly byKey = new Map<string, Promise<KubernetesSession>>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly controlPlane: ControlPlaneClient,
    private readonly live: { add(session: KubernetesSession): void; delete(session: KubernetesSession): void },
    private readonly log: (event: Record<string, unknown>) => void,
  ) {
    this.sweep = setInterval(() => void this.endStale(), SWEEP_MS);
    this.sweep.unref();
  }

  /** The session for this token on this connection; throws ControlPlaneRefusal when the token is refused. */
  async get(token: string, request: Omit<SessionStartRequest, 'token'>): Promise<KubernetesSession> {
    const key = createHash('sha256').update(request.connection).update('\0').update(token).digest('hex');
    let pending = this.byKey.get(key);
    if (!pending) {
      pending = this.controlPlane.startSession({ ...request, token }).then((started) => {
        const session = new KubernetesSession(started, (ended) => {
          if (this.byKey.get(key) === pending) this.byKey.delete(key);
          this.live.delete(ended);
          this.controlPlane.endSession(ended.sessionId, ended.ended ?? 'ended').catch((error: unknown) => this.log({ event: 'k8s-session-end-failed', error: String(error) }));
        });
        this.live.add(session);
        return session;
      });
      this.byKey.set(key, pending);
      // A refused token is not remembered: the next request asks again.
      pending.catch(() => this.byKey.delete(key));
    }
    const session = await pending;
    if (Date.parse(session.started.expiresAt) <= Date.now()) {
      session.terminate('the token expired');
      return this.get(token, request);
    }
    return session;
  }

  close(): void {
    clearInterval(this.sweep);
    for (const pending of this.byKey.values()) void pending.then((session) => session.terminate(SHUTDOWN_REASON), () => undefined);
  }

  private async endStale(): Promise<void> {
    const now = Date.now();
    for (const pending of [...this.byKey.values()]) {
      const session = await pending.catch(() => undefined);
      if (!session) continue;
      if (Date.parse(session.started.expiresAt) <= now) session.terminate('the token expired');
      else if (!session.busy && now - session.lastUsed > IDLE_END_MS) session.terminate('idle');
    }
  }
}
