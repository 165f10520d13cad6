/**
 * The proxy's side of the API contract (core/contract.ts). Commands from any number of
 * sessions share one /v1/authorize request (group commit, see Batcher). Any failure to get
 * an answer is a refusal: nothing is forwarded.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import {
  apiErrorSchema,
  approvalStatusResponseSchema,
  authorizeResponseSchema,
  recordingUploadResponseSchema,
  sessionStartResponseSchema,
  sessionStatusResponseSchema,
  type ApprovalStatusResponse,
  type AuthorizeCommand,
  type CommandDecision,
  type CommandResult,
  type RecordingUploadRequest,
  type RecordingUploadResponse,
  type SessionStartRequest,
  type SessionStartResponse,
  type SessionStatusResponse,
} from '../core/contract.js';
import type { ControlPlaneAuth } from './control-plane-auth.js';
import { ControlPlaneRefusal } from './errors.js';

export interface ControlPlaneClientOptions {
  readonly url: string;
  /** How each request proves it comes from the proxy fleet (control-plane-auth.ts). */
  readonly auth: ControlPlaneAuth;
  readonly timeoutMs?: number;
  /** Upper bound on commands in one /v1/authorize request (the contract allows 1000). */
  readonly maxBatch?: number;
  /** Upper bound on /v1/authorize (and, separately, /v1/results) requests in flight; more commands wait and share the next. */
  readonly maxInFlight?: number;
  /**
   * Carries a request to the control plane instead of HTTP to `url`: warden up's proxies call
   * the handlers in their own process (functions/local/http-adapter.ts invokeLocal). The
   * request is still authenticated, validated and held to the timeout.
   */
  readonly transport?: ControlPlaneTransport;
  /** How long a results report is retried while the control plane is unavailable (default 60 s). */
  readonly reportRetryMs?: number;
}

export type ControlPlaneTransport = (request: { readonly path: string; readonly headers: Readonly<Record<string, string>>; readonly body: string }) => Promise<{ status: number; text: string }>;

/**
 * Coalesces submitted items into batches, at most `maxInFlight` requests at a time. Items
 * submitted while that many are in flight wait and leave together as soon as one is answered,
 * so under load one request carries the commands of many sessions, and at low load an item
 * waits for nothing but the end of its own turn of the event loop.
 */
class Batcher<T, R> {
  private queue: { item: T; resolve(result: R): void; reject(error: unknown): void }[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly send: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
      this.send(batch.map((pending) => pending.item))
        .then(
          (results) => batch.forEach((pending, i) => pending.resolve(results[i]!)),
          (error: unknown) => batch.forEach((pending) => pending.reject(error)),
        )
        .finally(() => {
          this.inFlight -= 1;
          this.schedule();
        });
    }
  }
}

/**
 * A result is already on the client's screen, so its report is kept and retried while the
 * control plane (or its store) is unavailable, at growing intervals up to REPORT_RETRY_CAP_MS,
 * for `reportRetryMs`; once the fleet is stopping, for SETTLE_RETRY_MS more at most.
 */
const REPORT_RETRY_CAP_MS = 5_000;
const SETTLE_RETRY_MS = 5_000;

export class ControlPlaneClient {
  private readonly decisions: Batcher<AuthorizeCommand, CommandDecision>;
  private readonly results: Batcher<CommandResult, void>;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** No retry starts after this time: set when the fleet settles before stopping. */
  private retryUntil = Number.POSITIVE_INFINITY;
  /** Kept-alive connections: node:http costs a fraction of fetch per request on this hot path. */
  private readonly agent: HttpAgent;

  constructor(private readonly options: ControlPlaneClientOptions) {
    this.agent = new URL(options.url).protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    const maxBatch = options.maxBatch ?? 500;
    const maxInFlight = options.maxInFlight ?? 2;
    this.decisions = new Batcher((commands) => this.decide(commands), maxBatch, maxInFlight);
    this.results = new Batcher((results) => this.record(results), maxBatch, maxInFlight);
  }

  startSession(request: SessionStartRequest): Promise<SessionStartResponse> {
    return this.post('/v1/sessions', request, sessionStartResponseSchema);
  }

  /** Which of these sessions must end now (revoked or expired). */
  async sessionsToEnd(sessionIds: readonly string[]): Promise<SessionStatusResponse['end']> {
    return (await this.post('/v1/sessions/status', { sessionIds }, sessionStatusResponseSchema)).end;
  }

  /** Where these approvals stand (expired ones are expired by the asking). */
  async approvalStatuses(ids: readonly string[]): Promise<ApprovalStatusResponse['approvals']> {
    return (await this.post('/v1/approvals/status', { ids }, approvalStatusResponseSchema)).approvals;
  }

  async endSession(sessionId: string, reason: string): Promise<void> {
    await this.post(`/v1/sessions/${encodeURIComponent(sessionId)}/end`, { reason }, undefined);
  }

  /** Where to put a finished recording, when recordings leave the proxy (WARDEN_RECORDINGS=upload). */
  recordingUpload(request: RecordingUploadRequest): Promise<RecordingUploadResponse> {
    return this.post('/v1/recordings', request, recordingUploadResponseSchema);
  }

  authorize(command: AuthorizeCommand): Promise<CommandDecision> {
    return this.track(this.decisions.submit(command));
  }

  /** Records what a command did. The result is already visible, so failure is retried, then reported, never blocking. */
  report(result: CommandResult): Promise<void> {
    return this.track(this.results.submit(result));
  }

  /** Resolves once every request asked for so far, and every retry of it, has been answered or has failed: for a clean shutdown. */
  async settle(): Promise<void> {
    this.retryUntil = Math.min(this.retryUntil, Date.now() + SETTLE_RETRY_MS);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const forget = () => this.inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private async decide(commands: AuthorizeCommand[]): Promise<CommandDecision[]> {
    const { results } = await this.post('/v1/authorize', { commands }, authorizeResponseSchema);
    return commands.map((command, i) => {
      const result = results[i];
      if (!result || result.sessionId !== command.sessionId || result.commandId !== command.commandId) {
        throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', 'the control plane answered out of order');
      }
      return result;
    });
  }

  private async record(results: CommandResult[]): Promise<void[]> {
    const giveUpAt = Date.now() + (this.options.reportRetryMs ?? 60_000);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.post('/v1/results', { results }, undefined);
        return results.map(() => undefined);
      } catch (error) {
        // A refusal (an unknown session, a malformed report) would be refused again.
        const wait = Math.min(REPORT_RETRY_CAP_MS, 100 * 2 ** attempt);
        const retryable = error instanceof ControlPlaneRefusal && error.kind === 'unavailable';
        if (!retryable || Date.now() + wait > Math.min(giveUpAt, this.retryUntil)) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private post<S extends z.ZodType>(path: string, body: unknown, schema: S | undefined): Promise<z.infer<S>> {
    return this.track(this.send(path, body, schema));
  }

  private async send<S extends z.ZodType>(path: string, body: unknown, schema: S | undefined): Promise<z.infer<S>> {
    let response: { status: number; text: string };
    try {
      const request = { method: 'POST', url: new URL(`${this.options.url}${path}`), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } as const;
      const headers = await this.options.auth(request);
      const { transport } = this.options;
      response = transport ? await this.withinTimeout(transport({ path, headers, body: request.body })) : await this.exchange(request.url, headers, request.body);
    } catch (error) {
      throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', `the Warden control plane is unreachable (${describe(error)})`, { cause: error });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(response.text);
    } catch {
      payload = undefined;
    }
    if (response.status < 200 || response.status > 299) {
      const parsed = apiErrorSchema.safeParse(payload);
      if (!parsed.success) {
        // Not the control plane's answer but the gateway's in front of it (API Gateway's IAM
        // authorizer answers 403 {"message": "Forbidden"}): the proxy cannot reach a decision.
        const said = (payload as { message?: unknown } | undefined)?.message;
        throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', `the control plane answered HTTP ${response.status}${typeof said === 'string' ? ` (${said})` : ''}`);
      }
      const { error: code, message } = parsed.data;
      throw new ControlPlaneRefusal(response.status >= 500 || code === 'UNAUTHENTICATED_PROXY' ? 'unavailable' : 'refused', code, message);
    }
    if (!schema) return undefined as z.infer<S>;
    const parsed = schema.safeParse(payload);
    if (!parsed.success) throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', 'the control plane sent a malformed answer');
    return parsed.data;
  }

  private withinTimeout<T>(answer: Promise<T>): Promise<T> {
    const timeoutMs = this.timeoutMs();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(noAnswer(timeoutMs))), timeoutMs)));
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  private timeoutMs(): number {
    return this.options.timeoutMs ?? 10_000;
  }

  /** One POST and its whole answer, within the timeout; any failure on the way rejects. */
  private exchange(url: URL, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
    const timeoutMs = this.timeoutMs();
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: this.agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          clearTimeout(timer);
          if (response.complete) resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          else reject(new Error('the connection closed in the middle of the answer'));
        });
      });
      const timer = setTimeout(() => request.destroy(new Error(noAnswer(timeoutMs))), timeoutMs);
      function fail(error: Error): void {
        clearTimeout(timer);
        reject(error);
      }
      request.on('error', fail);
      request.end(body);
    });
  }
}

function noAnswer(timeoutMs: number): string {
  return `no answer within ${timeoutMs} ms: it, or the ledger store behind it, is down or overloaded`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
