/**
 * GET /v1/sessions — the sessions in the ledger, newest first, filtered by identity, chain,
 * connection and start time; GET /v1/sessions/{id} — one session with its commands. For the
 * console's reader groups only; everything shown is the masked text the ledger holds.
 */
import { sessionQuerySchema, type SessionDetail, type SessionList, type SessionQuery } from '../core/console-api.js';
import { WardenError } from '../core/errors.js';
import { SYSTEM_SESSION } from '../core/ledger/entry.js';
import { callerOf } from './lib/callers.js';
import { requireReader } from './lib/console-access.js';
import { apiHandler, json } from './lib/http.js';
import { LedgerReader } from './lib/ledger-reader.js';
import { getRuntime } from './lib/runtime.js';
import { commandView, indexedEntry, maskingTotals, readSession, sessionSummary, sessionsOf, type IndexedLedgerEntry, type SessionView } from './lib/session-views.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    requireReader(runtime, await callerOf(event, runtime));
    const reader = new LedgerReader(runtime.client, runtime.config.store.tablePrefix);
    const id = event.pathParameters?.id;
    if (id === undefined) return json(200, await listSessions(reader, parseQuery(event.queryStringParameters ?? {})));
    const session = await readSession(reader, id);
    if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${id} in the ledger; a session that just started appears once its entries are integrated (a few seconds)`);
    const detail: SessionDetail = {
      session: sessionSummary(session),
      commands: session.commands.map(commandView),
      masked: Object.fromEntries(maskingTotals(session.commands.flatMap((c) => c.result ?? []))),
    };
    return json(200, detail);
  });

function parseQuery(parameters: Record<string, string | undefined>): SessionQuery {
  const parsed = sessionQuerySchema.safeParse(parameters);
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(query)'}: ${issue.message}`);
  throw new WardenError('INVALID_REQUEST', `invalid query: ${fields.join('; ')}`);
}

async function listSessions(reader: LedgerReader, query: SessionQuery): Promise<SessionList> {
  const entries: IndexedLedgerEntry[] = [];
  for await (const stored of reader.entries()) if (stored.session !== SYSTEM_SESSION) entries.push(indexedEntry(stored));
  entries.sort((a, b) => a.index - b.index);
  const matched = sessionsOf(entries)
    .filter((session) => matches(session, query))
    // Entry times are UTC ISO 8601 (toISOString), so they sort as text; a session whose start is not integrated sorts last.
    .sort((a, b) => (b.start?.time ?? '').localeCompare(a.start?.time ?? ''));
  return { sessions: matched.slice(0, query.limit).map(sessionSummary), truncated: matched.length > query.limit };
}

function matches(session: SessionView, query: SessionQuery): boolean {
  const { identity } = session;
  if (query.identity !== undefined && identity.sub !== query.identity && !identity.act.some((actor) => actor.sub === query.identity)) return false;
  if (query.chain !== undefined && identity.chain !== query.chain) return false;
  if (query.connection !== undefined && session.connection !== query.connection) return false;
  if (query.from === undefined && query.to === undefined) return true;
  if (!session.start) return false;
  const started = Date.parse(session.start.time);
  return (query.from === undefined || started >= Date.parse(query.from)) && (query.to === undefined || started <= Date.parse(query.to));
}
