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
 */
export function verifyChains(stored: Iterable<StoredEntry>): ChainReport {
  const bySession = new Map<string, StoredEntry[]>();
  let entries = 0;
  for (const item of stored) {
    entries += 1;
    const list = bySession.get(item.session);
    if (list) list.push(item);
    else bySession.set(item.session, [item]);
  }
  const problems: ChainProblem[] = [];
  for (const [session, list] of [...bySession].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    list.sort((a, b) => a.seq - b.seq);
    const problem = firstProblem(session, list);
    if (problem) problems.push(problem);
  }
  return { ok: problems.length === 0, sessions: bySession.size, entries, problems };
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
    if (expectedSeq === 0 && session !== SYSTEM_SESSION && parsed.type !== 'session.start') {
      return { entry: id(), kind: 'bad-start', detail: `chain starts with ${String(parsed.type)}, not session.start` };
    }
    if (parsed.prev !== previousHash) {
      return {
        entry: id(),
        kind: 'broken-link',
        detail: `prev is ${String(parsed.prev)} but the entry before it hashes to ${previousHash}`,
      };
    }
    previousHash = item.hash;
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
