/** What a bundle is built from (export.ts EvidenceSources), from the store and the log's key. */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Ed25519NoteSigner } from '../../../core/ledger/signed-note.js';
import { ApprovalStore } from '../approval-store.js';
import { GrantStore } from '../grant-store.js';
import { LedgerReader } from '../ledger-reader.js';
import type { EvidenceSources } from './export.js';

export function evidenceSources(client: DynamoDBClient, tablePrefix: string, signer: Ed25519NoteSigner, readRecording: EvidenceSources['readRecording']): EvidenceSources {
  return {
    reader: new LedgerReader(client, tablePrefix),
    approvals: new ApprovalStore(client, tablePrefix),
    grants: new GrantStore(client, tablePrefix),
    signer,
    vkey: signer.vkey,
    readRecording,
  };
}

/** Recordings in a directory. The ledger names a recording by the path the gateway wrote; only its file name is trusted. */
export function recordingsIn(dir: string): EvidenceSources['readRecording'] {
  return (path) => readFile(join(dir, basename(path))).catch(() => undefined);
}
