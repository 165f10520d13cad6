/**
 * Verifies a whole log from what the store (or an evidence bundle) holds, trusting none of
 * it but the log's public key:
 *
 *   - every session's hash chain (chain-verify.ts);
 *   - global indexes 0 … n-1, each exactly once;
 *   - each leaf against the tree's stored leaf hashes, when given (names a moved entry);
 *   - the Merkle root against the integration state and against every checkpoint given,
 *     whose signature must verify (a checkpoint larger than the log means a lost tail);
 *   - the batches: each names the one before, and every entry of an integrated batch is in
 *     the ledger.
 *
 * Entries an integration step wrote but has not committed yet are set aside and counted
 * (setAsidePending).
 */
import { verifyChains, type ChainProblemKind } from './chain-verify.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { sha256Hex, type BatchedEntry, type StoredEntry } from './entry.js';
import { LedgerError } from './errors.js';
import { MerkleTreeBuilder, leafHash } from './merkle.js';
import { openNote, type NoteVerifier } from './signed-note.js';

export interface IndexedEntry extends StoredEntry {
  readonly index: number;
  readonly id: string;
  /** The durable batch the entry came from, when the ledger records it. */
  readonly batch?: number;
}

export interface BatchEvidence {
  readonly seq: number;
  readonly body: string;
  readonly hash: string;
}

export type LogProblemKind =
  | ChainProblemKind
  | 'missing-index'
  | 'duplicate-index'
  | 'leaf-mismatch'
  | 'size-mismatch'
  | 'root-mismatch'
  | 'bad-checkpoint'
  | 'truncated'
  | 'checkpoint-mismatch'
  | 'batch-altered'
  | 'missing-entry';

export interface LogProblem {
  readonly kind: LogProblemKind;
  /** The entry, index or checkpoint the problem is about. */
  readonly subject: string;
  readonly detail: string;
}

export interface LogEvidence {
  readonly entries: readonly IndexedEntry[];
  readonly verifier: NoteVerifier;
  /** The integration state's claim, if the store has one. */
  readonly state?: { readonly size: number; readonly root: Buffer; readonly batches: number };
  /** Leaf hashes as the tree stored them, by index. */
  readonly storedLeaves?: readonly Buffer[];
  /** Signed checkpoints to hold the log to: the store's latest, and any the auditor saved. */
  readonly checkpoints?: readonly { readonly label: string; readonly note: string }[];
  readonly batches?: readonly BatchEvidence[];
}

export interface LogReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly sessions: number;
  readonly treeSize: number;
  readonly root: string;
  readonly checkpoints: readonly { readonly label: string; readonly size: number; readonly verified: boolean }[];
  readonly pendingBatches: number;
  /** Entries written by an integration step that has not committed (yet): not checked, not in the tree. */
  readonly pendingEntries: number;
  readonly problems: readonly LogProblem[];
}

export function verifyLog(evidence: LogEvidence): LogReport {
  const problems: LogProblem[] = [];
  const { checked, pendingEntries } = setAsidePending(evidence);
  const chains = verifyChains(checked);
  for (const problem of chains.problems) problems.push({ kind: problem.kind, subject: problem.entry, detail: problem.detail });

  const byIndex = indexEntries(checked, problems);
  // One pass, keeping no per-leaf hashes: at a million entries, retained Buffers cost more in GC than the hashing.
  const tree = new MerkleTreeBuilder();
  const rootAt = new Map<number, Buffer>();
  const wanted = new Set<number>([...(evidence.checkpoints ?? []).map(safeSize), evidence.state?.size ?? -1]);
  const stored = evidence.storedLeaves;
  let leafMismatch: number | undefined;
  for (let i = 0; i < byIndex.length; i += 1) {
    if (wanted.has(i)) rootAt.set(i, tree.root());
    const leaf = leafHash(byIndex[i]!.entry);
    if (leafMismatch === undefined && stored?.[i] !== undefined && !leaf.equals(stored[i]!)) leafMismatch = i;
    tree.append(leaf);
  }
  const size = byIndex.length;
  const root = tree.root();
  rootAt.set(size, root);
  if (leafMismatch !== undefined) {
    problems.push({ kind: 'leaf-mismatch', subject: describe(byIndex[leafMismatch]!), detail: `index ${leafMismatch} does not hash to the tree's leaf ${leafMismatch}: it was changed or moved` });
  }

  if (evidence.state) {
    const claimed = evidence.state.root;
    if (evidence.state.size !== size) {
      problems.push({ kind: 'size-mismatch', subject: 'integration state', detail: `the state says ${evidence.state.size} entries, the ledger holds ${size}` });
    } else if (!claimed.equals(root)) {
      problems.push({ kind: 'root-mismatch', subject: 'integration state', detail: `the entries hash to ${root.toString('hex')}, the state says ${claimed.toString('hex')}` });
    }
  }

  const checkpoints = (evidence.checkpoints ?? []).map(({ label, note }) => {
    const checkpoint = openCheckpoint(note, evidence.verifier);
    if (checkpoint instanceof LedgerError) {
      problems.push({ kind: 'bad-checkpoint', subject: label, detail: checkpoint.message });
      return { label, size: 0, verified: false };
    }
    const { rootHash } = checkpoint;
    if (checkpoint.size > size) {
      const holds = pendingEntries > 0 ? `${size} integrated entries (and ${pendingEntries} not committed): entries were removed from its end or the state was rolled back` : `${size}: entries were removed from its end`;
      problems.push({ kind: 'truncated', subject: label, detail: `the checkpoint commits to ${checkpoint.size} entries but the log holds ${holds}` });
      return { label, size: checkpoint.size, verified: false };
    }
    const actual = rootAt.get(checkpoint.size)!;
    if (!actual.equals(rootHash)) {
      problems.push({ kind: 'checkpoint-mismatch', subject: label, detail: `the first ${checkpoint.size} entries hash to ${actual.toString('hex')}, the signed root is ${rootHash.toString('hex')}` });
      return { label, size: checkpoint.size, verified: false };
    }
    return { label, size: checkpoint.size, verified: true };
  });

  const pendingBatches = checkBatches(evidence, byIndex, problems);
  return {
    ok: problems.length === 0,
    entries: checked.length,
    sessions: chains.sessions,
    treeSize: size,
    root: root.toString('hex'),
    checkpoints,
    pendingBatches,
    pendingEntries,
    problems,
  };
}

/**
 * The integrator writes a step's ledger items before it commits the state that covers them,
 * so while a step runs, or after one died before its commit and until the next run repeats it,
 * the ledger holds more than the state. Pending are the entries at or above the state's size
 * that come from a durable batch after the state's last integrated one; every other entry is
 * checked, so one beyond the state from an integrated batch is still a size-mismatch.
 *
 * Setting them aside hides nothing. No state or signed checkpoint covers them yet, so they
 * vouch for nothing: whoever could alter them could as well delete them, and the log would
 * verify without them just the same. Making integrated entries pending takes rolling the
 * state back, which, like cutting off the tail, leaves a signed checkpoint larger than the
 * state (truncated), and the state's root is still checked against the entries below it.
 * A forged pending item must name a durable batch not yet integrated, so once that batch is,
 * the item is checked like any other: the integrator rewrites it (same session and seq), or
 * it collides with a real entry's index, or it sits beyond the new state. The integrator never
 * reads an item at or above the state's size (headBelow), so a forged one cannot leak into
 * the chains it builds.
 */
function setAsidePending(evidence: LogEvidence): { checked: readonly IndexedEntry[]; pendingEntries: number } {
  const { state, batches } = evidence;
  if (!state || !batches) return { checked: evidence.entries, pendingEntries: 0 };
  const uncommittedBatches = new Set(batches.filter((batch) => batch.seq > state.batches).map((batch) => batch.seq));
  const isPending = (entry: IndexedEntry) => entry.index >= state.size && entry.batch !== undefined && uncommittedBatches.has(entry.batch);
  const checked = evidence.entries.filter((entry) => !isPending(entry));
  return { checked, pendingEntries: evidence.entries.length - checked.length };
}

/** Places entries by index (no sort: a scan returns them in any order) and reports duplicates and the first gap. */
function indexEntries(entries: readonly IndexedEntry[], problems: LogProblem[]): IndexedEntry[] {
  const slots: (IndexedEntry | undefined)[] = new Array(entries.length);
  const strays: IndexedEntry[] = [];
  for (const entry of entries) {
    const { index } = entry;
    if (!Number.isSafeInteger(index) || index < 0 || index >= entries.length) strays.push(entry);
    else if (slots[index]) problems.push({ kind: 'duplicate-index', subject: describe(entry), detail: `index ${index} is also held by ${describe(slots[index]!)}` });
    else slots[index] = entry;
  }
  const gap = slots.findIndex((slot) => slot === undefined);
  if (gap === -1) return slots as IndexedEntry[];
  const next = [...slots.slice(gap), ...strays].find((entry) => entry !== undefined);
  problems.push({ kind: 'missing-index', subject: `index ${gap}`, detail: `no entry holds index ${gap}${next ? ` (the next one is ${next.index})` : ''}: entries were deleted` });
  return slots.slice(0, gap) as IndexedEntry[];
}

function checkBatches(evidence: LogEvidence, entries: readonly IndexedEntry[], problems: LogProblem[]): number {
  if (!evidence.batches) return 0;
  const integratedUpTo = evidence.state?.batches ?? 0;
  const ids = new Set(entries.map((entry) => entry.id));
  let previousHash: string | undefined;
  let pending = 0;
  for (const batch of [...evidence.batches].sort((a, b) => a.seq - b.seq)) {
    if (sha256Hex(batch.body) !== batch.hash) {
      problems.push({ kind: 'batch-altered', subject: `batch ${batch.seq}`, detail: 'the batch does not match its hash' });
      return pending;
    }
    const body = JSON.parse(batch.body) as { seq: number; prev: string; entries: BatchedEntry[] };
    if (previousHash !== undefined && body.prev !== previousHash) {
      problems.push({ kind: 'batch-altered', subject: `batch ${batch.seq}`, detail: 'the batch does not name the hash of the batch before it' });
    }
    previousHash = batch.hash;
    if (batch.seq > integratedUpTo) {
      pending += 1;
      continue;
    }
    const missing = body.entries.find((entry) => !ids.has(entry.id));
    if (missing) problems.push({ kind: 'missing-entry', subject: missing.id, detail: `batch ${batch.seq} holds entry ${missing.id} (${missing.type}, session ${missing.session}), but the ledger does not` });
  }
  return pending;
}

function openCheckpoint(note: string, verifier: NoteVerifier): Checkpoint | LedgerError {
  try {
    return parseCheckpoint(openNote(note, [verifier]).text);
  } catch (error) {
    if (error instanceof LedgerError) return error;
    throw error;
  }
}

function safeSize(checkpoint: { note: string }): number {
  try {
    return parseCheckpoint(checkpoint.note.slice(0, checkpoint.note.indexOf('\n\n') + 1)).size;
  } catch {
    return -1;
  }
}

function describe(entry: IndexedEntry): string {
  return `${entry.id} (${entry.session}/${entry.seq})`;
}
