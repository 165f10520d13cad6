import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException, waitUntilTableExists, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeCall, storeUnavailable } from './store-errors.js';
import { physicalTableName, tables, type TableDefinition } from './tables.js';

/** Creates the tables that do not exist yet (dynalite, DynamoDB Local; in AWS the CDK app owns them). */
export async function ensureTables(client: DynamoDBClient, prefix: string): Promise<void> {
  for (const table of tables) await ensureTable(client, prefix, table);
}

async function ensureTable(client: DynamoDBClient, prefix: string, table: TableDefinition): Promise<void> {
  const TableName = physicalTableName(prefix, table);
  try {
    await client.send(new DescribeTableCommand({ TableName }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw storeUnavailable(error);
  }
  const keys = [table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])];
  await storeCall(() =>
    client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
        KeySchema: keys.map((key, index) => ({ AttributeName: key.name, KeyType: index === 0 ? 'HASH' : 'RANGE' })),
      }),
    ),
  );
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 0.2, maxDelay: 1 }, { TableName });
}
