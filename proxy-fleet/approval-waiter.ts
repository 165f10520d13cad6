/**
 * Held commands wait here for their approvals. One poller asks the control plane about every
 * approval any session waits for, in one request per interval, however many are held.
 */
import type { ApprovalStatusResponse } from '../core/contract.js';

export type ApprovalOutcome = ApprovalStatusResponse['approvals'][number];

export class ApprovalWaiter {
  private readonly waiting = new Map<string, Set<(outcome: ApprovalOutcome) => void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly statuses: (ids: string[]) => Promise<ApprovalOutcome[]>,
    private readonly intervalMs: number,
    private readonly log: (event: Record<string, unknown>) => void,
  ) {}

  /** Resolves when approval `id` is no longer pending, or with undefined when `signal` aborts first. */
  wait(id: string, signal: AbortSignal): Promise<ApprovalOutcome | undefined> {
    return new Promise((resolve) => {
      const listeners = this.waiting.get(id) ?? new Set();
      const done = (outcome: ApprovalOutcome | undefined) => {
        listeners.delete(done);
        if (listeners.size === 0) this.waiting.delete(id);
        signal.removeEventListener('abort', aborted);
        resolve(outcome);
      };
      const aborted = () => done(undefined);
      if (signal.aborted) return resolve(undefined);
      signal.addEventListener('abort', aborted, { once: true });
      listeners.add(done);
      this.waiting.set(id, listeners);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.waiting.size === 0) return;
    this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  private async poll(): Promise<void> {
    try {
      const outcomes = await this.statuses([...this.waiting.keys()]);
      for (const outcome of outcomes) {
        if (outcome.status === 'pending') continue;
        for (const done of [...(this.waiting.get(outcome.id) ?? [])]) done(outcome);
      }
    } catch (error) {
      // The control plane being away delays an approval; it never grants one. Keep asking.
      this.log({ event: 'approval-poll-failed', error: String(error) });
    } finally {
      this.timer = undefined;
      this.schedule();
    }
  }
}
