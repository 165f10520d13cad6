/**
 * The ledger and session store, spoken over the DynamoDB API (dynalite locally, DynamoDB
 * Local in CI, DynamoDB in AWS). Only single-item conditional writes are used.
 *
 * A session's entries form a hash chain keyed (session, seq). Each entry is written with
 * `attribute_not_exists(session)`: two writers racing for the same seq cannot both win, so
 * a chain never forks. The head of each chain is cached; a lost race reloads it.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
  paginateScan,
  waitUntilTableExists,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { WardenError } from '../../core/errors.js';
import { GENESIS_HASH, sealEntry, type IdentityChain, type LedgerEntry, type StoredEntry } from '../../core/ledger/entry.js';
import { ledgerTable, physicalTableName, sessionsTable, tables, type TableDefinition } from './tables.js';

export interface SessionRecord {
  readonly id: string;
  readonly identity: IdentityChain;
  readonly connection: string;
  readonly startedAt: string;
  readonly expiresAt: string;
  readonly endedAt?: string;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The fields of an entry the caller decides; the store fills in session, seq and prev. */
export type EntryDraft = Omit<LedgerEntry, 'v' | 'session' | 'seq' | 'prev'>;

const MAX_APPEND_ATTEMPTS = 3;
const MAX_CACHED_SESSIONS = 10_000;

export class LedgerStore {
  private readonly heads = new Map<string, ChainHead>();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly sessionLocks = new Map<string, Promise<unknown>>();
  private readonly ledgerName: string;
  private readonly sessionsName: string;

  constructor(
    readonly client: DynamoDBClient,
    private readonly tablePrefix: string,
  ) {
    this.ledgerName = physicalTableName(tablePrefix, ledgerTable);
    this.sessionsName = physicalTableName(tablePrefix, sessionsTable);
  }

  /** Creates the tables that do not exist yet (dynalite, DynamoDB Local; in AWS the CDK app owns them). */
  async ensureTables(): Promise<void> {
    for (const table of tables) await this.ensureTable(table);
  }

  async createSession(record: SessionRecord): Promise<void> {
    await this.call(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.sessionsName,
          Item: { id: { S: record.id }, record: { S: JSON.stringify(record) } },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      ),
    );
    this.remember(record);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const cached = this.sessions.get(id);
    if (cached) return cached;
    const result = await this.call(() =>
      this.client.send(new GetItemCommand({ TableName: this.sessionsName, Key: { id: { S: id } }, ConsistentRead: true })),
    );
    const text = result.Item?.record?.S;
    if (text === undefined) return undefined;
    return this.remember(JSON.parse(text) as SessionRecord);
  }

  /** Marks a session ended; the condition makes a second end a no-op instead of a rewrite. */
  async endSession(record: SessionRecord, endedAt: string): Promise<void> {
    this.remember({ ...record, endedAt });
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.sessionsName,
          Key: { id: { S: record.id } },
          UpdateExpression: 'SET #record = :record, endedAt = :endedAt',
          ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(endedAt)',
          ExpressionAttributeNames: { '#record': 'record' },
          ExpressionAttributeValues: { ':record': { S: JSON.stringify({ ...record, endedAt }) }, ':endedAt': { S: endedAt } },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw unavailable(error);
    }
  }

  /**
   * Appends entries to one session's chain, in order. Resolves only when every entry is
   * durable. Appends to the same session are serialized in this process.
   */
  append(session: string, drafts: readonly EntryDraft[]): Promise<StoredEntry[]> {
    const previous = this.sessionLocks.get(session) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.appendNow(session, drafts));
    this.sessionLocks.set(session, next);
    void next.finally(() => {
      if (this.sessionLocks.get(session) === next) this.sessionLocks.delete(session);
    }).catch(() => undefined);
    return next;
  }

  /** Every stored entry, in no particular order. */
  async *scanEntries(): AsyncGenerator<StoredEntry> {
    const pages = paginateScan({ client: this.client }, { TableName: this.ledgerName, ConsistentRead: true });
    try {
      for await (const page of pages) {
        for (const item of page.Items ?? []) yield toStoredEntry(item);
      }
    } catch (error) {
      throw unavailable(error);
    }
  }

  private remember(record: SessionRecord): SessionRecord {
    if (this.sessions.size >= MAX_CACHED_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(record.id, record);
    return record;
  }

  private async appendNow(session: string, drafts: readonly EntryDraft[]): Promise<StoredEntry[]> {
    for (let attempt = 1; ; attempt += 1) {
      let head = this.heads.get(session) ?? (await this.loadHead(session));
      const written: StoredEntry[] = [];
      try {
        for (const draft of drafts) {
          const sealed = sealEntry({ v: 1, session, seq: head.seq + 1, prev: head.hash, ...draft });
          await this.client.send(
            new PutItemCommand({
              TableName: this.ledgerName,
              Item: toItem(sealed),
              ConditionExpression: 'attribute_not_exists(#session)',
              ExpressionAttributeNames: { '#session': 'session' },
            }),
          );
          head = { seq: sealed.seq, hash: sealed.hash };
          this.heads.set(session, head);
          written.push(sealed);
        }
        return written;
      } catch (error) {
        this.heads.delete(session);
        if (!(error instanceof ConditionalCheckFailedException)) throw unavailable(error);
        if (written.length > 0 || attempt >= MAX_APPEND_ATTEMPTS) {
          throw new WardenError('CHAIN_CONFLICT', `another writer is appending to session ${session}; retry the command`, { cause: error });
        }
      }
    }
  }

  private async loadHead(session: string): Promise<ChainHead> {
    const result = await this.call(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.ledgerName,
          KeyConditionExpression: '#session = :session',
          ExpressionAttributeNames: { '#session': 'session' },
          ExpressionAttributeValues: { ':session': { S: session } },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    const last = result.Items?.[0];
    return last ? { seq: Number(last.seq?.N), hash: String(last.hash?.S) } : { seq: -1, hash: GENESIS_HASH };
  }

  private async ensureTable(table: TableDefinition): Promise<void> {
    const TableName = physicalTableName(this.tablePrefix, table);
    try {
      await this.client.send(new DescribeTableCommand({ TableName }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw unavailable(error);
    }
    const keys = [table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])];
    await this.call(() =>
      this.client.send(
        new CreateTableCommand({
          TableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
          KeySchema: keys.map((key, index) => ({ AttributeName: key.name, KeyType: index === 0 ? 'HASH' : 'RANGE' })),
        }),
      ),
    );
    await waitUntilTableExists({ client: this.client, maxWaitTime: 60, minDelay: 0.2, maxDelay: 1 }, { TableName });
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw unavailable(error);
    }
  }
}

function toItem(entry: StoredEntry): Record<string, AttributeValue> {
  return {
    session: { S: entry.session },
    seq: { N: String(entry.seq) },
    entry: { S: entry.entry },
    hash: { S: entry.hash },
  };
}

function toStoredEntry(item: Record<string, AttributeValue>): StoredEntry {
  return {
    session: item.session?.S ?? '',
    seq: Number(item.seq?.N ?? Number.NaN),
    entry: item.entry?.S ?? '',
    hash: item.hash?.S ?? '',
  };
}

function unavailable(error: unknown): WardenError {
  if (error instanceof WardenError) return error;
  if (error instanceof ConditionalCheckFailedException) {
    return new WardenError('CHAIN_CONFLICT', 'the store refused a conditional write', { cause: error });
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new WardenError('STORE_UNAVAILABLE', `the ledger store is unreachable (${reason}); nothing was forwarded`, { cause: error });
}
