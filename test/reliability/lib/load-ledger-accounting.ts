/**
 * Matches what clients say they ran against what the ledger holds: per session, one allowed
 * `command` entry and one `command.result` entry for every statement, and a `session.end`.
 */
import type { LedgerEntry } from '../../../core/ledger/entry.js';
import type { ClientRun } from './load-clients.js';

export interface LedgerAccount {
  readonly commands: number;
  readonly results: number;
  readonly sessionsStarted: number;
  readonly sessionsEnded: number;
  /** One line per client whose statements are not all accounted for. */
  readonly problems: readonly string[];
}

export function accountFor(runs: readonly ClientRun[], entries: readonly LedgerEntry[]): LedgerAccount {
  const sessionOf = new Map<string, string>();
  const bySession = new Map<string, LedgerEntry[]>();
  for (const entry of entries) {
    if (entry.type === 'session.start') sessionOf.set(String((entry.data.client as { user?: string } | undefined)?.user), entry.session);
    const list = bySession.get(entry.session);
    if (list) list.push(entry);
    else bySession.set(entry.session, [entry]);
  }
  const problems: string[] = [];
  let commands = 0;
  let results = 0;
  let sessionsEnded = 0;
  for (const run of runs) {
    const session = sessionOf.get(run.user);
    if (!session) {
      problems.push(`${run.user}: no session.start entry`);
      continue;
    }
    const mine = bySession.get(session) ?? [];
    const commandIds = mine.filter((e) => e.type === 'command' && e.data.decision === 'allow').map((e) => Number(e.data.commandId));
    const resultIds = new Set(mine.filter((e) => e.type === 'command.result').map((e) => Number(e.data.commandId)));
    const unanswered = commandIds.filter((id) => !resultIds.has(id));
    commands += commandIds.length;
    results += resultIds.size;
    if (mine.some((e) => e.type === 'session.end')) sessionsEnded++;
    else problems.push(`${run.user} (${session}): no session.end entry`);
    if (commandIds.length !== run.statements) problems.push(`${run.user} (${session}): ran ${run.statements} statements, ledger has ${commandIds.length} allowed command entries`);
    if (resultIds.size !== run.statements) problems.push(`${run.user} (${session}): ran ${run.statements} statements, ledger has ${resultIds.size} command.result entries`);
    if (unanswered.length > 0) problems.push(`${run.user} (${session}): commands ${unanswered.slice(0, 5).join(', ')} have no command.result`);
  }
  return { commands, results, sessionsStarted: sessionOf.size, sessionsEnded, problems };
}
