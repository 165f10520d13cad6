/**
 * The store in its own place, as DynamoDB is in AWS: dynalite in the test process, so that the
 * gateway's memory is measured without the embedded store's, which grows with every entry it
 * holds (it is the database). `warden up` points at it through `store.endpoint`.
 */
import { createDynamoClient, startDynalite } from '../../../functions/lib/dynamodb.js';
import { LedgerReader, type IntegratedEntry } from '../../../functions/lib/ledger-reader.js';
import type { RunningTestWarden } from '../../helpers/warden.js';

export interface SeparateStore {
  readonly endpoint: string;
  /** Every entry, after `warden checkpoint` has integrated everything durable (as RunningTestWarden.ledger() does for the embedded store). */
  entries(warden: RunningTestWarden): Promise<IntegratedEntry[]>;
  close(): Promise<void>;
}

export async function startSeparateStore(): Promise<SeparateStore> {
  const store = await startDynalite({});
  const reader = new LedgerReader(createDynamoClient({ endpoint: store.endpoint, region: 'us-east-1' }), 'warden');
  return {
    endpoint: store.endpoint,
    entries: async (warden) => {
      const settled = await warden.cli(['checkpoint']);
      if (settled.code !== 0) throw new Error(`warden checkpoint failed: ${settled.stderr}`);
      const entries: IntegratedEntry[] = [];
      for await (const entry of reader.entries()) entries.push(entry);
      return entries;
    },
    close: () => store.close(),
  };
}
