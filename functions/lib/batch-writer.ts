/**
 * Group commit. Entries appended while a batch write is in flight wait and go together in
 * the next one, so under load one conditional put carries the entries of many sessions,
 * and at low load an entry waits for nothing but its own write.
 *
 * Batches are numbered 1, 2, 3 … and each names the hash of the one before. The put is
 * conditional on the number being free, so two writers can never both own batch n, and
 * there is never a gap for the integrator to wait on: a number exists only once its batch
 * is durable. A writer that loses the race reloads the last batch and tries the next number.
 *
 * MUST: append() resolves only after the put that holds the entries has succeeded.
 */
import { ConditionalCheckFailedException, PutItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { canonicalJson } from '../../core/canonical-json.js';
import { WardenError } from '../../core/errors.js';
import { GENESIS_HASH, batchedEntryId, sha256Hex, type BatchedEntry, type EntryDraft } from '../../core/ledger/entry.js';
import { crashPoint } from './crash-points.js';
import { storeCall, storeUnavailable } from './store-errors.js';
import { tableNames } from './tables.js';

export const LOG_PARTITION = 'main';
/** Well under DynamoDB's 400 KB item limit, leaving room for attribute names and the hash. */
const MAX_BATCH_BYTES = 300_000;
const MAX_ENTRY_BYTES = 64_000;
const MAX_CONFLICT_RETRIES = 20;

export interface BatchBody {
  readonly seq: number;
  readonly prev: string;
  readonly time: string;
  readonly entries: readonly BatchedEntry[];
}

interface Pending {
  readonly drafts: readonly EntryDraft[];
  readonly bytes: number;
  resolve(entries: BatchedEntry[]): void;
  reject(error: unknown): void;
}

export class BatchWriter {
  private readonly table: string;
  private queue: Pending[] = [];
  private writing = false;
  private head: { seq: number; hash: string } | undefined;

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
    private readonly now: () => number = Date.now,
    /** Called after every durable batch, e.g. to wake the integrator. */
    private readonly onBatch: (seq: number) => void = () => undefined,
  ) {
    this.table = tableNames(prefix).batches;
  }

  /** Makes the drafts durable, in order, in one batch; resolves with their ids. */
  append(drafts: readonly EntryDraft[]): Promise<BatchedEntry[]> {
    const sizes = drafts.map((draft) => canonicalJson(draft).length);
    const oversized = sizes.findIndex((size) => size > MAX_ENTRY_BYTES);
    if (oversized !== -1) return Promise.reject(new WardenError('INVALID_REQUEST', `a ${drafts[oversized]!.type} entry is over ${MAX_ENTRY_BYTES} bytes`));
    const bytes = sizes.reduce((sum, size) => sum + size, 0);
    return new Promise((resolve, reject) => {
      this.queue.push({ drafts, bytes, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup();
        try {
          const entries = await this.write(group.flatMap((pending) => pending.drafts));
          let offset = 0;
          for (const pending of group) {
            pending.resolve(entries.slice(offset, offset + pending.drafts.length));
            offset += pending.drafts.length;
          }
        } catch (error) {
          for (const pending of group) pending.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private takeGroup(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes + this.queue[count]!.bytes <= MAX_BATCH_BYTES)) {
      bytes += this.queue[count]!.bytes;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private async write(drafts: readonly EntryDraft[]): Promise<BatchedEntry[]> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt += 1) {
      const head = this.head ?? (await this.loadHead());
      const seq = head.seq + 1;
      const body: BatchBody = {
        seq,
        prev: head.hash,
        time: new Date(this.now()).toISOString(),
        entries: drafts.map((draft, position) => ({ ...draft, id: batchedEntryId(seq, position) })),
      };
      const text = canonicalJson(body);
      const hash = sha256Hex(text);
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: { log: { S: LOG_PARTITION }, seq: { N: String(seq) }, body: { S: text }, hash: { S: hash } },
            ConditionExpression: 'attribute_not_exists(seq)',
          }),
        );
      } catch (error) {
        this.head = undefined;
        if (error instanceof ConditionalCheckFailedException) continue;
        throw storeUnavailable(error);
      }
      this.head = { seq, hash };
      crashPoint('batch:after-put');
      this.onBatch(seq);
      return [...body.entries];
    }
    throw new WardenError('CHAIN_CONFLICT', 'too many concurrent batch writers; retry the command');
  }

  private async loadHead(): Promise<{ seq: number; hash: string }> {
    const result = await storeCall(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#log = :log',
          ExpressionAttributeNames: { '#log': 'log' },
          ExpressionAttributeValues: { ':log': { S: LOG_PARTITION } },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    const last = result.Items?.[0];
    return last ? { seq: Number(last.seq?.N), hash: String(last.hash?.S) } : { seq: 0, hash: GENESIS_HASH };
  }
}
