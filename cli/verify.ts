/** `warden verify`: walk every session's hash chain in the live store. */
import { isWardenError } from '../core/errors.js';
import { verifyChains, type ChainReport } from '../core/ledger/chain-verify.js';
import type { StoredEntry } from '../core/ledger/entry.js';
import { createDynamoClient, startDynalite } from '../functions/lib/dynamodb.js';
import { statePaths } from '../functions/lib/runtime.js';
import { LedgerStore } from '../functions/lib/store.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { readRunningState } from './running-state.js';

export async function verifyLedger(loaded: LoadedConfig, progress: (entries: number) => void): Promise<ChainReport> {
  const { config } = loaded;
  let endpoint = config.store.endpoint ?? (await readRunningState(loaded.stateDir))?.storeEndpoint;
  let closeEmbedded: (() => Promise<void>) | undefined;
  if (!endpoint) {
    if (config.store.memory) throw new CliError('the store is in memory: run verify while `warden up` is running', 2);
    const embedded = await startDynalite({ path: statePaths(loaded.stateDir).storeData });
    endpoint = embedded.endpoint;
    closeEmbedded = embedded.close;
  }
  const store = new LedgerStore(createDynamoClient({ endpoint, region: config.store.region }), config.store.tablePrefix);
  try {
    const entries: StoredEntry[] = [];
    for await (const entry of store.scanEntries()) {
      entries.push(entry);
      if (entries.length % 10_000 === 0) progress(entries.length);
    }
    return verifyChains(entries);
  } catch (error) {
    if (isWardenError(error)) throw new CliError(`${error.message}; is the store at ${endpoint} running?`, 3);
    throw error;
  } finally {
    await closeEmbedded?.();
  }
}
