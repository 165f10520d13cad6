/** Integrates every durable batch and signs a checkpoint now: `warden checkpoint`, export, scheduled export. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Ed25519NoteSigner } from '../../core/ledger/signed-note.js';
import { Checkpointer, type SignedCheckpoint } from './checkpointer.js';
import type { EvidenceSink } from './evidence-sink.js';
import { Integrator, type IntegrationResult } from './integrator.js';
import type { LedgerReader } from './ledger-reader.js';

export interface LogParts {
  readonly client: DynamoDBClient;
  readonly reader: LedgerReader;
  readonly signer: Ed25519NoteSigner;
  readonly origin: string;
  /** Where signed checkpoints are exported. */
  readonly sink: EvidenceSink;
}

export async function integrateAndSign(log: LogParts): Promise<{ integrated: IntegrationResult; checkpoint: SignedCheckpoint | undefined }> {
  const integrated = await new Integrator(log.client, log.reader).integrateAll();
  const checkpoint = await new Checkpointer(log.client, log.reader, log.signer, log.origin, log.sink).checkpoint();
  return { integrated, checkpoint };
}
