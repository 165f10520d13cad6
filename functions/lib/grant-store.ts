/**
 * The grants table, partitioned by holder so a session start finds its holder's grants with
 * one query. A grant's id carries its holder (`grt_<holder, base64url>.<random>`), so the
 * id alone finds the item. Changes are whole-record replacements conditioned on a version.
 */
import { randomBytes } from 'node:crypto';
import { GetItemCommand, paginateQuery, paginateScan, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeCall } from './store-errors.js';
import { putIfVersion, readRecords } from './versioned-put.js';
import { tableNames } from './tables.js';

export type GrantStatus = 'pending' | 'active' | 'denied' | 'expired' | 'revoked';

export interface GrantRecord {
  readonly id: string;
  readonly version: number;
  readonly status: GrantStatus;
  /** Whose grant: the root identity of the token that asked. */
  readonly holder: string;
  /** Set when an agent asked: the grant then applies to that identity chain only. */
  readonly chain?: string;
  readonly connection: string;
  readonly role: string;
  readonly seconds: number;
  readonly justification: string;
  readonly requestedAt: string;
  /** The approval request, when policy asked for one. */
  readonly approval?: string;
  readonly activatedAt?: string;
  /** activatedAt + seconds: the grant's time runs from when it takes effect. */
  readonly expiresAt?: string;
  readonly endedAt?: string;
  readonly endReason?: string;
}

export function newGrantId(holder: string): string {
  return `grt_${Buffer.from(holder).toString('base64url')}.${randomBytes(9).toString('base64url')}`;
}

export function holderOfGrantId(id: string): string | undefined {
  const match = /^grt_([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/.exec(id);
  return match ? Buffer.from(match[1]!, 'base64url').toString('utf8') : undefined;
}

export class GrantStore {
  private readonly table: string;

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
  ) {
    this.table = tableNames(prefix).grants;
  }

  async create(record: GrantRecord): Promise<void> {
    await storeCall(() => this.client.send(new PutItemCommand({ TableName: this.table, Item: this.item(record), ConditionExpression: 'attribute_not_exists(id)' })));
  }

  async get(id: string): Promise<GrantRecord | undefined> {
    const holder = holderOfGrantId(id);
    if (holder === undefined) return undefined;
    const result = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.table, Key: { holder: { S: holder }, id: { S: id } }, ConsistentRead: true })));
    const text = result.Item?.record?.S;
    return text === undefined ? undefined : (JSON.parse(text) as GrantRecord);
  }

  async ofHolder(holder: string): Promise<GrantRecord[]> {
    return readRecords<GrantRecord>(
      paginateQuery({ client: this.client }, { TableName: this.table, KeyConditionExpression: 'holder = :holder', ExpressionAttributeValues: { ':holder': { S: holder } }, ConsistentRead: true }),
    );
  }

  /** Every grant in the table, oldest request first (for evidence export). */
  async all(): Promise<GrantRecord[]> {
    const records = await readRecords<GrantRecord>(paginateScan({ client: this.client }, { TableName: this.table, ConsistentRead: true }));
    return records.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
  }

  /** Replaces `previous` with `next` unless someone changed it first; false when they did. */
  async replace(previous: GrantRecord, next: GrantRecord): Promise<boolean> {
    return putIfVersion(this.client, this.table, this.item({ ...next, version: previous.version + 1 }), previous.version);
  }

  private item(record: GrantRecord) {
    return { holder: { S: record.holder }, id: { S: record.id }, version: { N: String(record.version) }, record: { S: JSON.stringify(record) } };
  }
}
