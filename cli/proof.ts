/** `warden proof ENTRY`: an inclusion proof for one entry against the latest checkpoint, checked before it is printed. */
import { parseCheckpoint } from '../core/ledger/checkpoint.js';
import type { BatchedEntry } from '../core/ledger/entry.js';
import { leafHash, verifyInclusion } from '../core/ledger/merkle.js';
import { openNote } from '../core/ledger/signed-note.js';
import { tiledInclusionProof } from '../core/ledger/tiles.js';
import type { IntegratedEntry, LedgerReader } from '../functions/lib/ledger-reader.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { openStore } from './store-access.js';
import { loadVerifier } from './verify.js';

export interface ProofResult {
  readonly entry: { readonly id: string; readonly session: string; readonly seq: number; readonly index: number; readonly text: string };
  readonly leafHash: string;
  readonly treeSize: number;
  readonly proof: readonly string[];
  readonly checkpoint: string;
  readonly verified: boolean;
}

export async function proveEntry(loaded: LoadedConfig, reference: string, keyFile: string | undefined): Promise<ProofResult> {
  const verifier = await loadVerifier(loaded, keyFile);
  const store = await openStore(loaded);
  try {
    const entry = await findEntry(store.reader, reference);
    const stored = await store.reader.latestCheckpoint();
    if (!stored) throw new CliError('no checkpoint has been signed yet; run: warden checkpoint', 1);
    const checkpoint = parseCheckpoint(openNote(stored.note, [verifier]).text);
    if (entry.index >= checkpoint.size) {
      throw new CliError(`entry ${entry.id} (index ${entry.index}) is newer than the latest checkpoint (size ${checkpoint.size}); run: warden checkpoint`, 1);
    }
    const leaf = leafHash(entry.entry);
    const proof = await tiledInclusionProof(store.reader, entry.index, checkpoint.size);
    return {
      entry: { id: entry.id, session: entry.session, seq: entry.seq, index: entry.index, text: entry.entry },
      leafHash: leaf.toString('hex'),
      treeSize: checkpoint.size,
      proof: proof.map((hash) => hash.toString('hex')),
      checkpoint: stored.note,
      verified: verifyInclusion(leaf, entry.index, checkpoint.size, proof, checkpoint.rootHash),
    };
  } finally {
    await store.close();
  }
}

/** ENTRY is a batch id (b12.3, as the proxy reports it) or a chain position (SESSION/SEQ). */
async function findEntry(reader: LedgerReader, reference: string): Promise<IntegratedEntry> {
  const batchId = /^b(\d+)\.(\d+)$/.exec(reference);
  const chain = /^(.+)\/(\d+)$/.exec(reference);
  let found: IntegratedEntry | undefined;
  if (batchId) {
    const [batch] = await reader.batchesAfter(Number(batchId[1]) - 1, 1);
    const draft = batch && batch.seq === Number(batchId[1]) ? (JSON.parse(batch.body) as { entries: BatchedEntry[] }).entries[Number(batchId[2])] : undefined;
    if (draft) found = await reader.entryById(draft.session, reference);
    if (draft && !found) throw new CliError(`entry ${reference} is durable but not integrated yet; run: warden checkpoint`, 1);
  } else if (chain) {
    found = await reader.entryAt(chain[1]!, Number(chain[2]));
  } else {
    throw new CliError(`"${reference}" is not an entry reference: use a batch id like b12.3 or SESSION/SEQ`, 2);
  }
  if (!found) throw new CliError(`no entry ${reference} in the ledger`, 1);
  return found;
}
