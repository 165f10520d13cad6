/**
 * The control plane alone, as its own process, for fault tests: the Lambda handlers behind
 * the local HTTP adapter, and the log's integrator and checkpointer, as `warden up` runs them,
 * against a store that lives elsewhere. Killed with SIGKILL and started again on the same
 * port, state directory (keys) and store, it is the same control plane to the proxy.
 *
 *   FAULTS_STATE_DIR       keys and evidence
 *   FAULTS_STORE_ENDPOINT  the store's DynamoDB endpoint
 *   FAULTS_PROXY_KEY       the key the proxy fleet presents
 *   FAULTS_PORT            where the API listens on 127.0.0.1
 *   FAULTS_CONFIG_JSON     the Warden configuration (the connections)
 *
 * Logs {"event":"listening","url":…} on stdout once it serves. On SIGTERM it stops serving,
 * integrates what is durable, and exits: a log no integrator is writing can be verified.
 */
import { wardenConfigSchema } from '../../../core/config.js';
import { Checkpointer } from '../../../functions/lib/checkpointer.js';
import { Integrator } from '../../../functions/lib/integrator.js';
import { LedgerReader } from '../../../functions/lib/ledger-reader.js';
import { LedgerService } from '../../../functions/lib/ledger-service.js';
import { loadPolicyFile } from '../../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime } from '../../../functions/lib/runtime.js';
import { ensureTables } from '../../../functions/lib/table-setup.js';
import { startLocalApi } from '../../../functions/local/http-adapter.js';

const setting = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const config = wardenConfigSchema.parse(JSON.parse(setting('FAULTS_CONFIG_JSON')));
let ledger: LedgerService | undefined;
const runtime = await buildRuntime({
  config,
  stateDir: setting('FAULTS_STATE_DIR'),
  storeEndpoint: setting('FAULTS_STORE_ENDPOINT'),
  proxyKey: setting('FAULTS_PROXY_KEY'),
  policy: await loadPolicyFile(undefined),
  onBatch: () => ledger?.batchWritten(),
});
await ensureTables(runtime.client, config.store.tablePrefix);
const reader = new LedgerReader(runtime.client, config.store.tablePrefix);
ledger = new LedgerService({
  integrator: new Integrator(runtime.client, reader),
  checkpointer: new Checkpointer(runtime.client, reader, runtime.logSigner, config.ledger.origin, runtime.evidence.checkpoints),
  integrationDelayMs: config.ledger.integrationDelayMs,
  checkpointIntervalMs: config.ledger.checkpointIntervalSeconds * 1000,
  log: (event) => console.error(JSON.stringify({ component: 'ledger', ...event })),
});
ledger.start();
configureRuntime(runtime);
const api = await startLocalApi({ host: '127.0.0.1', port: Number(setting('FAULTS_PORT')) });
console.log(JSON.stringify({ event: 'listening', url: api.url }));
process.once('SIGTERM', () => {
  void api
    .close()
    .then(() => ledger?.stop())
    .finally(() => process.exit(0));
});
