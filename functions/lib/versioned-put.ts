/**
 * Optimistic concurrency for records replaced whole: the put succeeds only if the stored
 * item still has the version the writer read. Two writers racing get one winner.
 */
import { ConditionalCheckFailedException, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeUnavailable } from './store-errors.js';

/** Puts `item` (which carries `expectedVersion + 1`); false when someone else changed the record first. */
export async function putIfVersion(client: DynamoDBClient, table: string, item: Record<string, AttributeValue>, expectedVersion: number): Promise<boolean> {
  try {
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: { ':version': { N: String(expectedVersion) } },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw storeUnavailable(error);
  }
}

/** Every record (the `record` attribute, JSON) in the pages of a scan or query of a versioned-record table. */
export async function readRecords<T>(pages: AsyncIterable<{ Items?: Record<string, AttributeValue>[] }>): Promise<T[]> {
  const records: T[] = [];
  try {
    for await (const page of pages) for (const item of page.Items ?? []) records.push(JSON.parse(String(item.record?.S)) as T);
  } catch (error) {
    throw storeUnavailable(error);
  }
  return records;
}
