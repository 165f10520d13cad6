/**
 * Keeps the client's view of the response stream in protocol order when the proxy answers
 * some messages itself (a denial) while the server is still answering earlier ones.
 *
 *   client:  Parse1 Bind1 Execute1 | Parse2 (denied) … Sync
 *   server:  ParseComplete BindComplete DataRow… CommandComplete ReadyForQuery(swallowed)
 *   client sees: …server replies to 1… ErrorResponse(42501) ReadyForQuery
 *
 * Slots are queued in the order the client sent the messages they answer. A server slot
 * ends at the server's ReadyForQuery; a synthetic slot is written as soon as it reaches
 * the head of the queue.
 */
import type { BackendMessage } from './protocol/index.js';

export type TransactionStatus = 'I' | 'T' | 'E';

type Slot =
  | { kind: 'server'; closed: boolean; swallowReadyForQuery: boolean }
  | { kind: 'synthetic'; build: (status: TransactionStatus) => Buffer[] };

export class ResponseSequencer {
  private readonly slots: Slot[] = [];
  private status: TransactionStatus = 'I';

  constructor(private readonly write: (chunk: Buffer) => void) {}

  get transactionStatus(): TransactionStatus {
    return this.status;
  }

  /** True while messages forwarded since the last Sync/Query await a cycle end. */
  get hasOpenServerCycle(): boolean {
    const tail = this.slots.at(-1);
    return tail?.kind === 'server' && !tail.closed;
  }

  /**
   * Records that a message was forwarded upstream. `endsCycle` for Query, Sync and
   * FunctionCall: the server answers those with ReadyForQuery. `swallow` hides that
   * ReadyForQuery from the client (a Sync the proxy injected itself).
   */
  forwarded(endsCycle: boolean, swallow = false): void {
    const tail = this.slots.at(-1);
    const slot = tail?.kind === 'server' && !tail.closed ? tail : this.push({ kind: 'server', closed: false, swallowReadyForQuery: false });
    if (endsCycle) {
      slot.closed = true;
      slot.swallowReadyForQuery = swallow;
    }
  }

  /** Queues bytes the proxy answers itself; `build` runs when they reach the client, with the status at that moment. */
  synthetic(build: (status: TransactionStatus) => Buffer[]): void {
    this.slots.push({ kind: 'synthetic', build });
    this.drain();
  }

  fromServer(message: BackendMessage): void {
    if (message.name !== 'readyForQuery') {
      this.write(message.raw);
      return;
    }
    this.status = message.status;
    const head = this.slots[0];
    if (head?.kind === 'server') {
      this.slots.shift();
      if (!head.swallowReadyForQuery) this.write(message.raw);
    } else {
      this.write(message.raw);
    }
    this.drain();
  }

  private push<T extends Slot>(slot: T): T {
    this.slots.push(slot);
    return slot;
  }

  private drain(): void {
    for (let head = this.slots[0]; head?.kind === 'synthetic'; head = this.slots[0]) {
      this.slots.shift();
      for (const chunk of head.build(this.status)) this.write(chunk);
    }
  }
}
