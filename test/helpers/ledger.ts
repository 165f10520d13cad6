/** Builds the ledger's parts on a throwaway dynalite for tests, and drafts entries. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntryDraft } from '../../core/ledger/entry.js';
import { generateNoteKey, parseSignerKey, parseVerifierKey, type Ed25519NoteSigner, type NoteVerifier } from '../../core/ledger/signed-note.js';
import { verifyLog, type LogReport } from '../../core/ledger/log-verify.js';
import { TILE_WIDTH } from '../../core/ledger/tiles.js';
import { BatchWriter } from '../../functions/lib/batch-writer.js';
import { Checkpointer } from '../../functions/lib/checkpointer.js';
import { createDynamoClient, startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { DirectorySink } from '../../functions/lib/evidence-sink.js';
import { Integrator } from '../../functions/lib/integrator.js';
import { LedgerReader, type BatchRecord, type IntegratedEntry } from '../../functions/lib/ledger-reader.js';
import { ensureTables } from '../../functions/lib/table-setup.js';

export const PREFIX = 'test';
export const ORIGIN = 'test.example/log';

export interface TestLedger {
  readonly store: EmbeddedDynalite;
  readonly reader: LedgerReader;
  readonly writer: BatchWriter;
  readonly integrator: Integrator;
  readonly checkpointer: Checkpointer;
  readonly signer: Ed25519NoteSigner;
  readonly verifier: NoteVerifier;
  readonly evidenceDir: string;
  /** Everything the store holds, verified as `warden verify` would. */
  verify(saved?: string[]): Promise<LogReport>;
  entries(): Promise<IntegratedEntry[]>;
  close(): Promise<void>;
}

export async function startTestLedger(): Promise<TestLedger> {
  const store = await startDynalite({});
  const client = createDynamoClient({ endpoint: store.endpoint, region: 'us-east-1' });
  await ensureTables(client, PREFIX);
  const reader = new LedgerReader(client, PREFIX);
  const signer = parseSignerKey(generateNoteKey(ORIGIN).skey);
  const evidenceDir = await mkdtemp(join(tmpdir(), 'warden-evidence-'));
  const entries = async () => {
    const list: IntegratedEntry[] = [];
    for await (const entry of reader.entries()) list.push(entry);
    return list;
  };
  return {
    store,
    reader,
    writer: new BatchWriter(client, PREFIX),
    integrator: new Integrator(client, reader),
    checkpointer: new Checkpointer(client, reader, signer, ORIGIN, new DirectorySink(evidenceDir)),
    signer,
    verifier: parseVerifierKey(signer.vkey),
    evidenceDir,
    entries,
    verify: async (saved = []) => {
      const state = await reader.state();
      const batches: BatchRecord[] = [];
      for await (const batch of reader.allBatches()) batches.push(batch);
      const leafTiles = await reader.readTiles(Array.from({ length: Math.ceil(state.size / TILE_WIDTH) }, (_, index) => ({ level: 0, index })));
      const latest = await reader.latestCheckpoint();
      return verifyLog({
        entries: await entries(),
        verifier: parseVerifierKey(signer.vkey),
        state,
        storedLeaves: leafTiles.flat(),
        batches,
        checkpoints: [...(latest ? [{ label: 'latest', note: latest.note }] : []), ...saved.map((note, i) => ({ label: `saved ${i}`, note }))],
      });
    },
    close: async () => {
      await store.close();
      await rm(evidenceDir, { recursive: true, force: true });
    },
  };
}

export function draft(session: string, type: EntryDraft['type'], n: number): EntryDraft {
  return {
    session,
    type,
    time: new Date(1_800_000_000_000 + n).toISOString(),
    identity: { sub: `user-${session}`, groups: ['eng'], chain: `chain-${session}`, act: [] },
    connection: 'app',
    digest: n.toString(16).padStart(64, '0'),
    data: { n },
  };
}

/** A session's worth of drafts: start, `commands` commands, end. */
export function sessionDrafts(session: string, commands: number): EntryDraft[] {
  return [draft(session, 'session.start', 0), ...Array.from({ length: commands }, (_, i) => draft(session, 'command', i + 1)), draft(session, 'session.end', commands + 1)];
}
