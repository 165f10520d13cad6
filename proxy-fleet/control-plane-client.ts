/**
 * The proxy's side of the API contract (core/contract.ts). Commands submitted in the same
 * turn of the event loop, from any number of sessions, travel in one /v1/authorize request
 * (group commit). Any failure to get an answer is a refusal: nothing is forwarded.
 */
import type { z } from 'zod';
import {
  apiErrorSchema,
  authorizeResponseSchema,
  sessionStartResponseSchema,
  type AuthorizeCommand,
  type CommandDecision,
  type SessionStartRequest,
  type SessionStartResponse,
} from '../core/contract.js';
import { ControlPlaneRefusal } from './errors.js';

export interface ControlPlaneClientOptions {
  readonly url: string;
  readonly proxyKey: string;
  readonly timeoutMs?: number;
  /** Upper bound on commands in one /v1/authorize request (the contract allows 1000). */
  readonly maxBatch?: number;
}

interface PendingCommand {
  readonly command: AuthorizeCommand;
  resolve(decision: CommandDecision): void;
  reject(error: unknown): void;
}

export class ControlPlaneClient {
  private queue: PendingCommand[] = [];
  private flushScheduled = false;

  constructor(private readonly options: ControlPlaneClientOptions) {}

  startSession(request: SessionStartRequest): Promise<SessionStartResponse> {
    return this.post('/v1/sessions', request, sessionStartResponseSchema);
  }

  async endSession(sessionId: string, reason: string): Promise<void> {
    await this.post(`/v1/sessions/${encodeURIComponent(sessionId)}/end`, { reason }, undefined);
  }

  authorize(command: AuthorizeCommand): Promise<CommandDecision> {
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const maxBatch = this.options.maxBatch ?? 500;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, maxBatch);
      void this.sendBatch(batch);
    }
  }

  private async sendBatch(batch: PendingCommand[]): Promise<void> {
    try {
      const { results } = await this.post('/v1/authorize', { commands: batch.map((p) => p.command) }, authorizeResponseSchema);
      batch.forEach((pending, index) => {
        const result = results[index];
        if (result && result.sessionId === pending.command.sessionId && result.commandId === pending.command.commandId) pending.resolve(result);
        else pending.reject(new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', 'the control plane answered out of order'));
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  private async post<S extends z.ZodType>(path: string, body: unknown, schema: S | undefined): Promise<z.infer<S>> {
    let response: Response;
    try {
      response = await fetch(`${this.options.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.proxyKey}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', `the Warden control plane is unreachable (${describe(error)})`, { cause: error });
    }
    const payload: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const parsed = apiErrorSchema.safeParse(payload);
      const code = parsed.success ? parsed.data.error : 'CONTROL_PLANE_UNAVAILABLE';
      const message = parsed.success ? parsed.data.message : `the control plane answered HTTP ${response.status}`;
      const kind = response.status >= 500 || code === 'UNAUTHENTICATED_PROXY' ? 'unavailable' : 'refused';
      throw new ControlPlaneRefusal(kind, code, message);
    }
    if (!schema) return undefined as z.infer<S>;
    const parsed = schema.safeParse(payload);
    if (!parsed.success) throw new ControlPlaneRefusal('unavailable', 'CONTROL_PLANE_UNAVAILABLE', 'the control plane sent a malformed answer');
    return parsed.data;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
