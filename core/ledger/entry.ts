import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';

/**
 * Who started the chain and every actor after them (RFC 8693 `act`, flattened root first).
 * `act` is empty for a token a person or workload obtained directly.
 */
export interface IdentityChain {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly chain: string;
  readonly act: readonly { readonly sub: string }[];
}

export type EntryType = 'session.start' | 'command' | 'session.end';

/** A ledger entry as it is hashed: every field is covered by `hash`. */
export interface LedgerEntry {
  readonly v: 1;
  readonly session: string;
  /** Position in the session's hash chain, from 0 (always `session.start`). */
  readonly seq: number;
  /** Hash of the entry at seq - 1, or GENESIS_HASH for seq 0. */
  readonly prev: string;
  readonly type: EntryType;
  readonly time: string;
  readonly identity: IdentityChain;
  readonly connection: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The entry as stored: its canonical JSON text and the SHA-256 of that text. */
export interface StoredEntry {
  readonly session: string;
  readonly seq: number;
  readonly entry: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

export function entryId(session: string, seq: number): string {
  return `${session}/${seq}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function sealEntry(entry: LedgerEntry): StoredEntry {
  const text = canonicalJson(entry);
  return { session: entry.session, seq: entry.seq, entry: text, hash: sha256Hex(text) };
}
