/** Read access to the log: integration state, batches, integrated entries, tiles, checkpoints. */
import { BatchGetItemCommand, GetItemCommand, QueryCommand, paginateQuery, paginateScan, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GENESIS_HASH, type StoredEntry } from '../../core/ledger/entry.js';
import { HASH_SIZE, emptyRoot } from '../../core/ledger/merkle.js';
import { tileKey, type TileId, type TileReader } from '../../core/ledger/tiles.js';
import { LOG_PARTITION } from './batch-writer.js';
import { storeCall, storeUnavailable } from './store-errors.js';
import { tableNames } from './tables.js';

export interface IntegrationState {
  /** Bumped by every integration step; the conditional update compares it. */
  readonly version: number;
  readonly size: number;
  /** The last integrated batch and its hash (the next batch must name it as `prev`). */
  readonly batches: number;
  readonly batchHash: string;
  readonly subtreeRoots: readonly Buffer[];
  readonly root: Buffer;
}

export const INITIAL_STATE: IntegrationState = { version: 0, size: 0, batches: 0, batchHash: GENESIS_HASH, subtreeRoots: [], root: emptyRoot() };

export interface BatchRecord {
  readonly seq: number;
  readonly body: string;
  readonly hash: string;
}

export interface IntegratedEntry extends StoredEntry {
  readonly index: number;
  readonly id: string;
  readonly batch: number;
}

export interface StoredCheckpoint {
  readonly size: number;
  readonly note: string;
}

export const STATE_ITEM = 'integration';
export const CHECKPOINT_ITEM = 'checkpoint';

export class LedgerReader implements TileReader {
  readonly names;

  constructor(
    readonly client: DynamoDBClient,
    prefix: string,
  ) {
    this.names = tableNames(prefix);
  }

  async state(): Promise<IntegrationState> {
    const result = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.names.log, Key: { name: { S: STATE_ITEM } }, ConsistentRead: true })));
    const item = result.Item;
    if (!item) return INITIAL_STATE;
    return {
      version: Number(item.version?.N),
      size: Number(item.size?.N),
      batches: Number(item.batches?.N),
      batchHash: String(item.batchHash?.S),
      subtreeRoots: splitHashes(item.roots?.B),
      root: Buffer.from(String(item.root?.S), 'hex'),
    };
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const result = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.names.log, Key: { name: { S: CHECKPOINT_ITEM } }, ConsistentRead: true })));
    const item = result.Item;
    return item ? { size: Number(item.size?.N), note: String(item.note?.S) } : undefined;
  }

  /** Batches with a number above `after`, in order. */
  async batchesAfter(after: number, limit: number): Promise<BatchRecord[]> {
    const result = await storeCall(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.names.batches,
          KeyConditionExpression: '#log = :log AND seq > :after',
          ExpressionAttributeNames: { '#log': 'log' },
          ExpressionAttributeValues: { ':log': { S: LOG_PARTITION }, ':after': { N: String(after) } },
          Limit: limit,
          ConsistentRead: true,
        }),
      ),
    );
    return (result.Items ?? []).map(toBatch);
  }

  async *allBatches(): AsyncGenerator<BatchRecord> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.names.batches,
        KeyConditionExpression: '#log = :log',
        ExpressionAttributeNames: { '#log': 'log' },
        ExpressionAttributeValues: { ':log': { S: LOG_PARTITION } },
        ConsistentRead: true,
      },
    );
    try {
      for await (const page of pages) for (const item of page.Items ?? []) yield toBatch(item);
    } catch (error) {
      throw storeUnavailable(error);
    }
  }

  /** Every integrated entry, in no particular order. */
  async *entries(): AsyncGenerator<IntegratedEntry> {
    const pages = paginateScan({ client: this.client }, { TableName: this.names.ledger, ConsistentRead: true });
    try {
      for await (const page of pages) for (const item of page.Items ?? []) yield toIntegratedEntry(item);
    } catch (error) {
      throw storeUnavailable(error);
    }
  }

  async entryAt(session: string, seq: number): Promise<IntegratedEntry | undefined> {
    const result = await storeCall(() =>
      this.client.send(new GetItemCommand({ TableName: this.names.ledger, Key: { session: { S: session }, seq: { N: String(seq) } }, ConsistentRead: true })),
    );
    return result.Item ? toIntegratedEntry(result.Item) : undefined;
  }

  /** The integrated entry with batch id `id` (b<batch>.<position>) in `session`. */
  async entryById(session: string, id: string): Promise<IntegratedEntry | undefined> {
    for await (const entry of this.sessionEntries(session, true)) if (entry.id === id) return entry;
    return undefined;
  }

  /** A session's integrated entries, newest first when `newestFirst`; `pageSize` for callers that usually stop early. */
  async *sessionEntries(session: string, newestFirst: boolean, pageSize?: number): AsyncGenerator<IntegratedEntry> {
    const pages = paginateQuery(
      { client: this.client, ...(pageSize ? { pageSize } : {}) },
      {
        TableName: this.names.ledger,
        KeyConditionExpression: '#session = :session',
        ExpressionAttributeNames: { '#session': 'session' },
        ExpressionAttributeValues: { ':session': { S: session } },
        ScanIndexForward: !newestFirst,
        ConsistentRead: true,
      },
    );
    try {
      for await (const page of pages) for (const item of page.Items ?? []) yield toIntegratedEntry(item);
    } catch (error) {
      throw storeUnavailable(error);
    }
  }

  async readTiles(ids: readonly TileId[]): Promise<Buffer[][]> {
    const wanted = [...new Set(ids.map(tileKey))];
    const found = new Map<string, Buffer[]>();
    for (let i = 0; i < wanted.length; i += 100) {
      let keys: Record<string, AttributeValue>[] = wanted.slice(i, i + 100).map((tile) => ({ tile: { S: tile } }));
      for (let round = 0; keys.length > 0; round += 1) {
        const result = await storeCall(() => this.client.send(new BatchGetItemCommand({ RequestItems: { [this.names.tiles]: { Keys: keys, ConsistentRead: true } } })));
        for (const item of result.Responses?.[this.names.tiles] ?? []) found.set(String(item.tile?.S), splitHashes(item.hashes?.B));
        keys = (result.UnprocessedKeys?.[this.names.tiles]?.Keys ?? []) as Record<string, AttributeValue>[];
        if (keys.length > 0) await backoff(round);
      }
    }
    return ids.map((id) => found.get(tileKey(id)) ?? []);
  }
}

export function splitHashes(bytes: Uint8Array | undefined): Buffer[] {
  if (!bytes) return [];
  const buffer = Buffer.from(bytes);
  const hashes: Buffer[] = [];
  for (let offset = 0; offset + HASH_SIZE <= buffer.length; offset += HASH_SIZE) hashes.push(buffer.subarray(offset, offset + HASH_SIZE));
  return hashes;
}

export function backoff(round: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** round)));
}

function toBatch(item: Record<string, AttributeValue>): BatchRecord {
  return { seq: Number(item.seq?.N), body: String(item.body?.S), hash: String(item.hash?.S) };
}

function toIntegratedEntry(item: Record<string, AttributeValue>): IntegratedEntry {
  return {
    session: item.session?.S ?? '',
    seq: Number(item.seq?.N ?? Number.NaN),
    entry: item.entry?.S ?? '',
    hash: item.hash?.S ?? '',
    index: Number(item.index?.N ?? Number.NaN),
    id: item.id?.S ?? '',
    batch: Number(item.batch?.N ?? Number.NaN),
  };
}
