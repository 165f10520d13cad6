/**
 * Revocation of one token (by its jti) or of a whole identity chain (by its chain id).
 * A revocation is a single conditional put; it is checked at every session start and,
 * through the proxy's status poll, while sessions run. Answers are cached briefly so a poll
 * of many sessions costs few reads; the cache lifetime bounds how late a revocation bites.
 */
import { BatchGetItemCommand, ConditionalCheckFailedException, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { WardenError } from '../../core/errors.js';
import { backoff } from './ledger-reader.js';
import { storeCall, storeUnavailable } from './store-errors.js';
import { tableNames } from './tables.js';

export interface Revocation {
  readonly key: string;
  readonly revokedAt: string;
  readonly reason: string;
}

const CACHE_MS = 1000;

export class Revocations {
  private readonly table: string;
  private readonly cache = new Map<string, { at: number; revocation: Revocation | null }>();

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    this.table = tableNames(prefix).revocations;
  }

  static tokenKey(jti: string): string {
    return `jti:${jti}`;
  }

  static chainKey(chain: string): string {
    return `chain:${chain}`;
  }

  /** Records a revocation; revoking twice keeps the first. Returns false if it already existed. */
  async revoke(key: string, reason: string): Promise<boolean> {
    const revokedAt = new Date(this.now()).toISOString();
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { key: { S: key }, revokedAt: { S: revokedAt }, reason: { S: reason } },
          ConditionExpression: 'attribute_not_exists(#key)',
          ExpressionAttributeNames: { '#key': 'key' },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw storeUnavailable(error);
    }
    this.cache.set(key, { at: this.now(), revocation: { key, revokedAt, reason } });
    return true;
  }

  /** Refuses a token that was revoked, or whose whole chain was. */
  async ensureNotRevoked(token: { readonly jti: string; readonly chain: string }): Promise<void> {
    const revoked = await this.find([Revocations.tokenKey(token.jti), Revocations.chainKey(token.chain)]);
    if (revoked) throw new WardenError('TOKEN_REVOKED', `this token was revoked at ${revoked.revokedAt} (${revoked.reason}); ask whoever started the chain for a new one`);
  }

  /** The first revocation among these keys, if any. */
  async find(keys: readonly string[]): Promise<Revocation | undefined> {
    const found = await this.lookup(keys);
    return keys.map((key) => found.get(key)).find((revocation) => revocation !== undefined);
  }

  /** Revocations for many keys at once (the proxy's status poll). */
  async lookup(keys: readonly string[]): Promise<Map<string, Revocation>> {
    const now = this.now();
    const missing = [...new Set(keys)].filter((key) => {
      const cached = this.cache.get(key);
      return !cached || now - cached.at > CACHE_MS;
    });
    for (let i = 0; i < missing.length; i += 100) {
      const chunk = missing.slice(i, i + 100);
      const items = new Map<string, Record<string, AttributeValue>>();
      // Unprocessed keys are asked again: an unanswered key must never read as "not revoked".
      let keys: Record<string, AttributeValue>[] = chunk.map((key) => ({ key: { S: key } }));
      for (let round = 0; keys.length > 0; round += 1) {
        const result = await storeCall(() => this.client.send(new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } })));
        for (const item of result.Responses?.[this.table] ?? []) items.set(String(item.key?.S), item);
        keys = (result.UnprocessedKeys?.[this.table]?.Keys ?? []) as Record<string, AttributeValue>[];
        if (keys.length > 0) await backoff(round);
      }
      for (const key of chunk) {
        const item = items.get(key);
        this.cache.set(key, { at: now, revocation: item ? { key, revokedAt: String(item.revokedAt?.S), reason: String(item.reason?.S) } : null });
      }
    }
    const found = new Map<string, Revocation>();
    for (const key of keys) {
      const revocation = this.cache.get(key)?.revocation;
      if (revocation) found.set(key, revocation);
    }
    return found;
  }
}
