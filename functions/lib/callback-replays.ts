/**
 * Replay protection for signed callbacks. A signature covers the timestamp and the body, so
 * a replay repeats the signature: the first acceptance claims it with a conditional put,
 * and a second delivery finds it taken. Claims outlive the 5-minute signing window.
 */
import { ConditionalCheckFailedException, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeUnavailable } from './store-errors.js';
import { tableNames } from './tables.js';

const KEEP_SECONDS = 600;

export class CallbackReplays {
  private readonly table: string;

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
    private readonly now: () => number,
  ) {
    this.table = tableNames(prefix).callbacks;
  }

  /** True the first time a signature is seen, false for every replay. */
  async claim(signature: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          // expiresAt is for a DynamoDB TTL sweep in AWS; correctness never depends on it.
          Item: { signature: { S: signature }, expiresAt: { N: String(Math.floor(this.now() / 1000) + KEEP_SECONDS) } },
          ConditionExpression: 'attribute_not_exists(signature)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw storeUnavailable(error);
    }
  }
}
