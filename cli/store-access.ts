/** How CLI commands reach the store: the configured endpoint, the running `warden up`, or the state directory. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, startDynalite } from '../functions/lib/dynamodb.js';
import { LedgerReader } from '../functions/lib/ledger-reader.js';
import { statePaths } from '../functions/lib/runtime.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { readRunningState } from './running-state.js';

export interface StoreAccess {
  readonly client: DynamoDBClient;
  readonly reader: LedgerReader;
  readonly endpoint: string | undefined;
  close(): Promise<void>;
}

export async function openStore(loaded: LoadedConfig): Promise<StoreAccess> {
  const { config } = loaded;
  let endpoint = config.store.endpoint ?? (await readRunningState(loaded.stateDir))?.storeEndpoint;
  let close = async () => undefined as void;
  if (!endpoint) {
    if (config.store.memory) throw new CliError('the store is in memory: run this while `warden up` is running', 2);
    // LevelDB allows one process at a time: this works only while `warden up` is not running.
    const embedded = await startDynalite({ path: statePaths(loaded.stateDir).storeData });
    endpoint = embedded.endpoint;
    close = embedded.close;
  }
  const client = createDynamoClient({ endpoint, region: config.store.region });
  return { client, reader: new LedgerReader(client, config.store.tablePrefix), endpoint, close };
}
