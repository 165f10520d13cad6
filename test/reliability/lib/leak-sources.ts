/**
 * Where a leak could hide, read as bytes: every item of every table in the store (through the
 * DynamoDB API, so whatever the storage engine does on disk), and every file under a directory.
 */
import { ListTablesCommand, paginateScan, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Source {
  readonly where: string;
  readonly bytes: Buffer;
}

/** Each item as its text (strings, numbers, binary as base64) followed by its binary values' raw bytes. */
export async function* storeItems(client: DynamoDBClient): AsyncGenerator<Source> {
  const { TableNames = [] } = await client.send(new ListTablesCommand({}));
  for (const table of TableNames) {
    let index = 0;
    for await (const page of paginateScan({ client }, { TableName: table, ConsistentRead: true })) {
      for (const item of page.Items ?? []) {
        const raw: Buffer[] = [];
        const text = JSON.stringify(item, (_key, value: unknown) => {
          if (!(value instanceof Uint8Array)) return value;
          raw.push(Buffer.from(value));
          return Buffer.from(value).toString('base64');
        });
        yield { where: `${table}[${index++}]`, bytes: Buffer.concat([Buffer.from(text, 'utf8'), ...raw]) };
      }
    }
  }
}

export async function* filesUnder(directory: string): AsyncGenerator<Source> {
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    yield { where: path, bytes: await readFile(path) };
  }
}
