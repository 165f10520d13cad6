/**
 * The EventBridge schedule's handler for ledger integration: everything durable so far is
 * linked into the session chains and the Merkle tree, as `warden up`'s LedgerService does
 * after each batch.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { Integrator, type IntegrationResult } from '../../functions/lib/integrator.js';
import { LedgerReader } from '../../functions/lib/ledger-reader.js';
import { controlPlaneHandler } from '../../functions/lib/observability.js';
import { getRuntime } from '../../functions/lib/runtime.js';

// Kept across warm invocations: the integrator caches the chain heads of its own last commit.
let integrator: Integrator | undefined;

export const handler = controlPlaneHandler<ScheduledEvent, IntegrationResult>(() => 'ledger integration').handler(() => {
  if (!integrator) {
    const { client, config } = getRuntime();
    integrator = new Integrator(client, new LedgerReader(client, config.store.tablePrefix));
  }
  return integrator.integrateAll();
});
