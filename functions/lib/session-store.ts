/** The sessions table: who opened each session, on which connection, and when it ended. */
import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, ScanCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { IdentityChain } from '../../core/ledger/entry.js';
import { storeCall, storeUnavailable } from './store-errors.js';
import { tableNames } from './tables.js';

export interface SessionRecord {
  readonly id: string;
  readonly identity: IdentityChain;
  readonly connection: string;
  readonly startedAt: string;
  readonly expiresAt: string;
  /** The jti of the token that opened the session, for revocation. */
  readonly tokenId: string;
  /** Why the client connected, as it said at startup; shown to approvers. */
  readonly justification?: string;
  /** Just-in-time grants in effect when the session started; it ends when one of them ends. */
  readonly grants?: readonly string[];
  readonly endedAt?: string;
}

const MAX_CACHED_SESSIONS = 10_000;

export class SessionStore {
  private readonly cache = new Map<string, SessionRecord>();
  private readonly table: string;

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
  ) {
    this.table = tableNames(prefix).sessions;
  }

  async create(record: SessionRecord): Promise<void> {
    await storeCall(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { id: { S: record.id }, record: { S: JSON.stringify(record) } },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      ),
    );
    this.remember(record);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const result = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.table, Key: { id: { S: id } }, ConsistentRead: true })));
    const text = result.Item?.record?.S;
    return text === undefined ? undefined : this.remember(JSON.parse(text) as SessionRecord);
  }

  /** Every session not ended yet: a whole-table scan, for the periodic sweep of orphaned sessions. */
  async *openSessions(): AsyncGenerator<SessionRecord> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await storeCall(() =>
        this.client.send(new ScanCommand({ TableName: this.table, FilterExpression: 'attribute_not_exists(endedAt)', ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) })),
      );
      for (const item of page.Items ?? []) if (item.record?.S !== undefined) yield JSON.parse(item.record.S) as SessionRecord;
      start = page.LastEvaluatedKey;
    } while (start);
  }

  /** Marks a session ended; the condition makes a second end a no-op instead of a rewrite. */
  async end(record: SessionRecord, endedAt: string): Promise<void> {
    this.remember({ ...record, endedAt });
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { id: { S: record.id } },
          UpdateExpression: 'SET #record = :record, endedAt = :endedAt',
          ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(endedAt)',
          ExpressionAttributeNames: { '#record': 'record' },
          ExpressionAttributeValues: { ':record': { S: JSON.stringify({ ...record, endedAt }) }, ':endedAt': { S: endedAt } },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw storeUnavailable(error);
    }
  }

  private remember(record: SessionRecord): SessionRecord {
    if (this.cache.size >= MAX_CACHED_SESSIONS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(record.id, record);
    return record;
  }
}
