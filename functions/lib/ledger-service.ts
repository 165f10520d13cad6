/**
 * Runs the log's background work in a long-lived process (`warden up`; in AWS, scheduled
 * Lambdas call the same Integrator and Checkpointer): integrate shortly after each batch,
 * and sign a checkpoint at an interval when the tree has grown.
 */
import type { Checkpointer, SignedCheckpoint } from './checkpointer.js';
import type { Integrator } from './integrator.js';

export interface LedgerServiceOptions {
  readonly integrator: Integrator;
  readonly checkpointer: Checkpointer;
  readonly integrationDelayMs: number;
  readonly checkpointIntervalMs: number;
  readonly log: (event: Record<string, unknown>) => void;
}

export class LedgerService {
  private integrationTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** Serializes integration and signing in this process; other processes are kept out by the store's conditions. */
  private work: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: LedgerServiceOptions) {}

  start(): void {
    this.checkpointTimer = setInterval(() => void this.run('checkpoint', () => this.options.checkpointer.checkpoint()), this.options.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  /** Call after each durable batch. */
  batchWritten(): void {
    if (this.integrationTimer) return;
    this.integrationTimer = setTimeout(() => {
      this.integrationTimer = undefined;
      void this.run('integrate', () => this.options.integrator.integrateAll());
    }, this.options.integrationDelayMs);
  }

  /** Integrates everything and signs a checkpoint now. */
  flush(): Promise<SignedCheckpoint | undefined> {
    const result = this.work.then(async () => {
      await this.options.integrator.integrateAll();
      return this.options.checkpointer.checkpoint();
    });
    this.work = result.catch(() => undefined);
    return result;
  }

  async stop(): Promise<void> {
    clearTimeout(this.integrationTimer);
    clearInterval(this.checkpointTimer);
    await this.flush().catch((error: unknown) => this.options.log({ event: 'ledger-flush-failed', error: String(error) }));
  }

  private run(task: string, operation: () => Promise<unknown>): Promise<unknown> {
    this.work = this.work.then(operation).catch((error: unknown) => this.options.log({ event: `ledger-${task}-failed`, error: String(error) }));
    return this.work;
  }
}
