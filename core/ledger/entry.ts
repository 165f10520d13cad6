import * as nodeCrypto from 'node:crypto';
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
  /** The root is a workload (a service account), not a person: Cedar sees it as an Agent. */
  readonly workload?: boolean;
  /** Roles of just-in-time grants in effect for this session: Cedar sees the principal `in` each Warden::Role. */
  readonly roles?: readonly string[];
}

export const entryTypes = [
  'session.start',
  'command',
  'command.result',
  'session.end',
  'approval.requested',
  'approval.decided',
  'approval.expired',
  'grant.requested',
  'grant.approved',
  'grant.denied',
  'grant.activated',
  'grant.expired',
  'grant.revoked',
  'config.snapshot',
  'token.revoked',
] as const;
export type EntryType = (typeof entryTypes)[number];

/** What a writer supplies. Never a raw sensitive payload: only masked text and `digest`. */
export interface EntryDraft {
  /** The session whose hash chain the entry joins; `system` for entries of the gateway itself. */
  readonly session: string;
  readonly type: EntryType;
  readonly time: string;
  readonly identity: IdentityChain;
  readonly connection: string;
  /** HMAC-SHA256 of the raw payload, keyed by the gateway: proves what it was without storing it. */
  readonly digest: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A draft made durable in a batch; `id` (`b<batch>.<position>`) is its name from then on. */
export interface BatchedEntry extends EntryDraft {
  readonly id: string;
}

/** An integrated entry: linked into its session's hash chain. Every field is covered by `hash`. */
export interface LedgerEntry extends BatchedEntry {
  readonly v: 1;
  /** Position in the session's hash chain, from 0 (always `session.start`, or the first system entry). */
  readonly seq: number;
  /** Hash of the entry at seq - 1, or GENESIS_HASH for seq 0. */
  readonly prev: string;
}

/** The entry as stored: its canonical JSON text and the SHA-256 of that text. */
export interface StoredEntry {
  readonly session: string;
  readonly seq: number;
  readonly entry: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
export const SYSTEM_SESSION = 'system';

export function chainPosition(session: string, seq: number): string {
  return `${session}/${seq}`;
}

export function batchedEntryId(batch: number, position: number): string {
  return `b${batch}.${position}`;
}

/** SHA-256 of UTF-8 text, in hex. crypto.hash (Node >= 20.12) halves the cost of a Hash object; verify runs it per entry. */
export const sha256Hex: (text: string) => string =
  typeof nodeCrypto.hash === 'function' ? (text) => nodeCrypto.hash('sha256', text, 'hex') : (text) => nodeCrypto.createHash('sha256').update(text, 'utf8').digest('hex');

export function sealEntry(entry: LedgerEntry): StoredEntry {
  const text = canonicalJson(entry);
  return { session: entry.session, seq: entry.seq, entry: text, hash: sha256Hex(text) };
}
