import { GENESIS_HASH, SYSTEM_SESSION, chainPosition, sha256Hex, type LedgerEntry, type StoredEntry } from './entry.js';

export type ChainProblemKind =
  | 'unreadable'
  | 'hash-mismatch'
  | 'key-mismatch'
  | 'missing-entries'
  | 'duplicate-entry'
  | 'broken-link'
  | 'bad-start';

export interface ChainProblem {
  readonly entry: string;
  readonly kind: ChainProblemKind;
  readonly detail: string;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly sessions: number;
  readonly entries: number;
  /** At most one problem per session: the first broken entry of its chain. */
  readonly problems: readonly ChainProblem[];
}

/**
 * Walks every session's hash chain. Entries may come in any order; each chain must run
 * 0, 1, 2, … with every `prev` naming the hash of the entry before it and every hash
 * recomputing from the stored canonical text.
 *
 * A log read in index order brings each session's entries in seq order, so one pass checks
 * them as they come, touching each entry once and in the order it sits in memory (at a
 * million entries, grouping and sorting per session cost more than hashing). A session whose
 * entries come out of order is checked again from its sorted entries, so the report is the
 * same either way: the first broken entry of each chain, in seq order.
 */
export function verifyChains(stored: readonly StoredEntry[]): ChainReport {
  const walks = new Map<string, ChainWalk>();
  const unordered = new Set<string>();
  let entries = 0;
  for (const item of stored) {
    entries += 1;
    const walk = walks.get(item.session) ?? startWalk(walks, item.session);
    if (item.seq !== walk.nextSeq) unordered.add(item.session);
    else if (!walk.problem) walk.problem = checkLink(item.session, item, walk.previousHash);
    walk.nextSeq += 1;
    walk.previousHash = item.hash;
  }
  if (unordered.size > 0) recheckUnordered(stored, unordered, walks);
  const problems = [...walks]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([, walk]) => (walk.problem ? [walk.problem] : []));
  return { ok: problems.length === 0, sessions: walks.size, entries, problems };
}

interface ChainWalk {
  nextSeq: number;
  previousHash: string;
  problem: ChainProblem | undefined;
}

function startWalk(walks: Map<string, ChainWalk>, session: string): ChainWalk {
  const walk: ChainWalk = { nextSeq: 0, previousHash: GENESIS_HASH, problem: undefined };
  walks.set(session, walk);
  return walk;
}

function recheckUnordered(stored: readonly StoredEntry[], sessions: ReadonlySet<string>, walks: Map<string, ChainWalk>): void {
  const bySession = new Map<string, StoredEntry[]>();
  for (const item of stored) {
    if (!sessions.has(item.session)) continue;
    const list = bySession.get(item.session);
    if (list) list.push(item);
    else bySession.set(item.session, [item]);
  }
  for (const [session, list] of bySession) {
    list.sort((a, b) => a.seq - b.seq);
    walks.get(session)!.problem = firstProblem(session, list);
  }
}

function firstProblem(session: string, chain: readonly StoredEntry[]): ChainProblem | undefined {
  let previousHash = GENESIS_HASH;
  for (let expectedSeq = 0; expectedSeq < chain.length; expectedSeq += 1) {
    const item = chain[expectedSeq]!;
    if (item.seq !== expectedSeq) {
      const id = chainPosition(session, item.seq);
      return item.seq < expectedSeq
        ? { entry: id, kind: 'duplicate-entry', detail: `seq ${item.seq} appears more than once` }
        : {
            entry: chainPosition(session, expectedSeq),
            kind: 'missing-entries',
            detail: `entries ${expectedSeq}..${item.seq - 1} are missing before ${id}`,
          };
    }
    const problem = checkLink(session, item, previousHash);
    if (problem) return problem;
    previousHash = item.hash;
  }
  return undefined;
}

/** Checks one entry at its place in the chain: its hash, its key, and its link to the entry before. */
function checkLink(session: string, item: StoredEntry, previousHash: string): ChainProblem | undefined {
  // The hash covers the exact stored text. Text that was rewritten (canonical or not) and
  // re-hashed breaks the next entry's link and the entry's Merkle leaf, so re-serializing
  // every entry to check its canonical form would catch nothing more.
  const recomputed = sha256Hex(item.entry);
  const id = () => chainPosition(session, item.seq);
  if (recomputed !== item.hash) {
    return { entry: id(), kind: 'hash-mismatch', detail: `stored hash ${item.hash} but content hashes to ${recomputed}` };
  }
  const parsed = parse(item.entry);
  if (!parsed) return { entry: id(), kind: 'unreadable', detail: 'stored entry is not a JSON object' };
  if (parsed.session !== session || parsed.seq !== item.seq) {
    return { entry: id(), kind: 'key-mismatch', detail: `content says ${String(parsed.session)}/${String(parsed.seq)}` };
  }
  if (item.seq === 0 && session !== SYSTEM_SESSION && parsed.type !== 'session.start') {
    return { entry: id(), kind: 'bad-start', detail: `chain starts with ${String(parsed.type)}, not session.start` };
  }
  if (parsed.prev !== previousHash) {
    return { entry: id(), kind: 'broken-link', detail: `prev is ${String(parsed.prev)} but the entry before it hashes to ${previousHash}` };
  }
  return undefined;
}

function parse(text: string): Partial<LedgerEntry> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Partial<LedgerEntry>) : undefined;
  } catch {
    return undefined;
  }
}
