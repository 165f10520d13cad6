/**
 * Integrated ledger entries grouped into sessions and commands, as the evidence report
 * (evidence/report.ts) and the console's read API (core/console-api.ts) show them. Entries hold
 * masked text and digests only, so nothing built here can carry a raw payload.
 */
import type { CommandView as CommandApiView, SessionSummary } from '../../core/console-api.js';
import { SYSTEM_SESSION, type IdentityChain, type LedgerEntry } from '../../core/ledger/entry.js';
import type { IntegratedEntry, LedgerReader } from './ledger-reader.js';

export interface CommandView<E extends LedgerEntry = LedgerEntry> {
  /** Its first entry in the input: the first statement, or the result when the command entry is not among the entries. */
  readonly first: E;
  /** The command's entries, one per statement; empty when the command entry is not among the entries. */
  readonly statements: E[];
  result: E | undefined;
}

export interface SessionView<E extends LedgerEntry = LedgerEntry> {
  readonly id: string;
  readonly identity: IdentityChain;
  readonly connection: string;
  start: E | undefined;
  end: E | undefined;
  readonly commands: CommandView<E>[];
}

export interface ChainView<E extends LedgerEntry = LedgerEntry> {
  readonly chain: string;
  readonly identity: IdentityChain;
  readonly sessions: SessionView<E>[];
}

/** Sessions in order of first appearance; the gateway's own entries (grants, config) are not a session. */
export function sessionsOf<E extends LedgerEntry>(entries: Iterable<E>): SessionView<E>[] {
  const sessions = new Map<string, SessionView<E>>();
  const commands = new Map<string, CommandView<E>>();
  for (const entry of entries) {
    if (entry.session === SYSTEM_SESSION) continue;
    let session = sessions.get(entry.session);
    if (!session) {
      session = { id: entry.session, identity: entry.identity, connection: entry.connection, start: undefined, end: undefined, commands: [] };
      sessions.set(entry.session, session);
    }
    if (entry.type === 'session.start') session.start = entry;
    else if (entry.type === 'session.end') session.end = entry;
    else if (entry.type === 'command' || entry.type === 'command.result') {
      const key = JSON.stringify([entry.session, entry.data.commandId]);
      let command = commands.get(key);
      if (!command) {
        command = { first: entry, statements: [], result: undefined };
        commands.set(key, command);
        session.commands.push(command);
      }
      if (entry.type === 'command') command.statements.push(entry);
      else command.result = entry;
    }
  }
  return [...sessions.values()];
}

export function chainsOf<E extends LedgerEntry>(sessions: readonly SessionView<E>[]): ChainView<E>[] {
  const chains = new Map<string, ChainView<E>>();
  for (const session of sessions) {
    const chain = chains.get(session.identity.chain) ?? { chain: session.identity.chain, identity: session.identity, sessions: [] };
    chain.sessions.push(session);
    chains.set(chain.chain, chain);
  }
  return [...chains.values()];
}

/** One decision per command: a statement denied denies it, one held holds it. */
export function decisionOf(command: CommandView): string | undefined {
  const decisions = command.statements.map((s) => text(s.data.decision));
  return decisions.find((d) => d === 'deny') ?? decisions.find((d) => d === 'approval') ?? decisions[0];
}

export function maskedCounts(result: LedgerEntry): [rule: string, count: number][] {
  return Object.entries(record(result.data.masked)).flatMap(([rule, n]) => (typeof n === 'number' ? [[rule, n] as [string, number]] : []));
}

/** Values masked per rule over these results, rules in alphabetical order. */
export function maskingTotals(results: readonly LedgerEntry[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [rule, n] of results.flatMap(maskedCounts)) totals.set(rule, (totals.get(rule) ?? 0) + n);
  return new Map([...totals].sort(([a], [b]) => a.localeCompare(b)));
}

// ---- the console's views (core/console-api.ts) ----

/** An integrated entry with its index in the Merkle tree. */
export type IndexedLedgerEntry = LedgerEntry & { readonly index: number };

export function indexedEntry(stored: IntegratedEntry): IndexedLedgerEntry {
  return { ...(JSON.parse(stored.entry) as LedgerEntry), index: stored.index };
}

/** One session as the ledger holds it; undefined when none of its entries is integrated (or it is the gateway's own). */
export async function readSession(reader: LedgerReader, id: string): Promise<SessionView<IndexedLedgerEntry> | undefined> {
  const entries: IndexedLedgerEntry[] = [];
  for await (const stored of reader.sessionEntries(id, false)) entries.push(indexedEntry(stored));
  return sessionsOf(entries)[0];
}

export function sessionSummary(session: SessionView): SessionSummary {
  const start = session.start?.data ?? {};
  const end = session.end?.data ?? {};
  const results = session.commands.flatMap((c) => c.result ?? []);
  return {
    id: session.id,
    identity: session.identity,
    connection: session.connection,
    ...optional('protocol', text(start.protocol)),
    ...optional('startedAt', session.start?.time),
    ...optional('endedAt', session.end?.time),
    ...optional('endReason', text(end.reason)),
    ...optional('justification', text(record(start.client).justification)),
    commands: session.commands.length,
    denied: session.commands.filter((c) => decisionOf(c) === 'deny').length,
    held: session.commands.filter((c) => decisionOf(c) === 'approval').length,
    masked: results.flatMap(maskedCounts).reduce((sum, [, n]) => sum + n, 0),
    recorded: results.some((r) => recordingOf(r) !== undefined),
  };
}

/** Fields of a statement's data that the view names on its own; the rest are the facts the policy judged. */
const STATEMENT_FIELDS = new Set(['commandId', 'kind', 'text', 'decision', 'reason', 'policies', 'policyVersion']);

export function commandView(command: CommandView<IndexedLedgerEntry>): CommandApiView {
  const { first, result } = command;
  return {
    commandId: number(first.data.commandId) ?? 0,
    kind: text(first.data.kind) ?? '',
    time: first.time,
    statements: command.statements.map((s) => ({
      entryId: s.id,
      index: s.index,
      time: s.time,
      text: text(s.data.text) ?? '',
      decision: text(s.data.decision) ?? '',
      ...optional('reason', text(s.data.reason)),
      policies: texts(s.data.policies),
      ...optional('policyVersion', text(s.data.policyVersion)),
      facts: Object.fromEntries(Object.entries(s.data).filter(([field]) => !STATEMENT_FIELDS.has(field))),
    })),
    ...(result ? { result: resultView(result) } : {}),
  };
}

function resultView(result: LedgerEntry): NonNullable<CommandApiView['result']> {
  const { data } = result;
  const recording = recordingOf(result);
  return {
    time: result.time,
    ...optional('rows', number(data.rows)),
    ...optional('error', text(data.error)),
    ...optional('exitStatus', number(data.exitStatus)),
    ...optional('exitSignal', text(data.exitSignal)),
    ...optional('bytesOut', number(data.bytesOut)),
    ...optional('bytesIn', number(data.bytesIn)),
    ...optional('httpStatus', number(data.httpStatus)),
    ...optional('durationMs', number(data.durationMs)),
    masked: Object.fromEntries(maskedCounts(result)),
    ...(recording ? { recording: { sha256: recording.sha256, bytes: recording.bytes } } : {}),
  };
}

/** The recording a command.result names: the path the gateway wrote and the SHA-256 and size of its bytes. */
export function recordingOf(result: LedgerEntry): { path: string; sha256: string; bytes: number } | undefined {
  const recording = record(result.data.recording);
  const path = text(recording.path);
  const sha256 = text(recording.sha256);
  const bytes = number(recording.bytes);
  return path === undefined || sha256 === undefined || bytes === undefined ? undefined : { path, sha256, bytes };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [key in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [key in K]: V });
}

// ---- reading entry data, which is untyped JSON ----

export function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function number(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function texts(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
