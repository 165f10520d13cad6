/**
 * The EventBridge schedule's handler for checkpoints: signs the integrated tree head with the
 * log's key when the tree grew, and exports it to the evidence sink.
 *
 * The signer and the sink are the runtime's (Runtime.logSigner, Runtime.evidence.checkpoints).
 * In AWS the log key is the KMS ECC_NIST_EDWARDS25519 key (infra/constructs/signing-keys.ts):
 * a KMS-backed Ed25519NoteSigner is the runtime's to supply, as the local key file is now.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { Checkpointer } from '../../functions/lib/checkpointer.js';
import { LedgerReader } from '../../functions/lib/ledger-reader.js';
import { controlPlaneHandler } from '../../functions/lib/observability.js';
import { getRuntime } from '../../functions/lib/runtime.js';

export interface CheckpointSummary {
  readonly size: number;
  /** False when the tree had not grown and the last checkpoint stands. */
  readonly signed: boolean;
}

export const handler = controlPlaneHandler<ScheduledEvent, CheckpointSummary | undefined>(() => 'ledger checkpoint').handler(async () => {
  const { client, config, logSigner, evidence } = getRuntime();
  const checkpointer = new Checkpointer(client, new LedgerReader(client, config.store.tablePrefix), logSigner, config.ledger.origin, evidence.checkpoints);
  const latest = await checkpointer.checkpoint();
  return latest && { size: latest.checkpoint.size, signed: latest.signed };
});
