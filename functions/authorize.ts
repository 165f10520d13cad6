/**
 * POST /v1/authorize — decides a batch of commands, possibly from many sessions, and makes
 * one `command` entry per SQL statement durable before it answers (fail closed: no answer,
 * no forwarding). A command is allowed only if every statement in it is allowed, because
 * the proxy forwards a protocol message whole or not at all.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { authorizeRequestSchema, type AuthorizeCommand, type AuthorizeResponse, type CommandDecision } from '../core/contract.js';
import { canonicalJson } from '../core/canonical-json.js';
import { WardenError } from '../core/errors.js';
import { contentDetectors } from '../core/masking/detectors.js';
import { maskText } from '../core/masking/mask-text.js';
import type { EntryDraft } from '../core/ledger/entry.js';
import { apiErrors, json, parseJsonBody, requireProxyKey } from './lib/http.js';
import { getRuntime, keyedDigest, type Runtime } from './lib/runtime.js';
import type { SessionRecord } from './lib/session-store.js';
import type { Outcome, PolicyDecision } from './lib/policy-engine.js';
import { decideSql } from './lib/sql-decision.js';
import { newSessionSqlState, sqlParserReady, type SessionSqlState } from './lib/sql-facts.js';

/** Recorded statement text and parameters are capped; the keyed digest still covers all of it. */
const MAX_RECORDED_TEXT = 8192;
const MAX_RECORDED_PARAMETER = 256;

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(apiErrors())
  .use(requireProxyKey())
  .handler(async (event) => {
    const runtime = getRuntime();
    const { commands } = parseJsonBody(event, authorizeRequestSchema);
    await sqlParserReady();
    const bySession = new Map<string, AuthorizeCommand[]>();
    for (const command of commands) {
      const list = bySession.get(command.sessionId);
      if (list) list.push(command);
      else bySession.set(command.sessionId, [command]);
    }
    // One session's failure (unknown, ended, store write refused) denies that session's commands only.
    const decided = await Promise.all(
      [...bySession].map(([sessionId, list]) => decideSession(runtime, sessionId, list).catch((error: unknown) => refuseAll(sessionId, list, error))),
    );
    const decisions = new Map(decided.flat().map((d) => [`${d.sessionId}/${d.commandId}`, d]));
    const response: AuthorizeResponse = { results: commands.map((c) => decisions.get(`${c.sessionId}/${c.commandId}`)!) };
    return json(200, response);
  });

function refuseAll(sessionId: string, commands: readonly AuthorizeCommand[], error: unknown): CommandDecision[] {
  if (!(error instanceof WardenError)) throw error;
  return commands.map((command) => ({ sessionId, commandId: command.commandId, decision: 'deny', reason: error.message, error: error.code, statements: [] }));
}

/** A statement as planned: its outcome (approval included), why, and which policies decided. */
interface Verdict {
  readonly outcome: Outcome;
  readonly reason: string;
  readonly policies: readonly string[];
}

interface PlannedStatement {
  readonly verdict: Verdict;
  readonly data: Record<string, unknown>;
  readonly raw: string;
}

interface PlannedCommand {
  readonly command: AuthorizeCommand;
  readonly statements: readonly PlannedStatement[];
  readonly denial: string | undefined;
}

/** PREPARE is remembered per session, so a later EXECUTE is decided on what was prepared. */
const sqlStates = new Map<string, SessionSqlState>();
const MAX_SQL_STATES = 10_000;

function sqlStateOf(sessionId: string): SessionSqlState {
  let state = sqlStates.get(sessionId);
  if (!state) {
    if (sqlStates.size >= MAX_SQL_STATES) sqlStates.delete(sqlStates.keys().next().value!);
    state = newSessionSqlState();
    sqlStates.set(sessionId, state);
  }
  return state;
}

async function decideSession(runtime: Runtime, sessionId: string, commands: readonly AuthorizeCommand[]): Promise<CommandDecision[]> {
  const session = await runtime.sessions.get(sessionId);
  if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${sessionId}`);
  if (session.endedAt) throw new WardenError('SESSION_ENDED', `session ${sessionId} ended at ${session.endedAt}`);
  const expiredAt = runtime.now() >= Date.parse(session.expiresAt) ? session.expiresAt : undefined;
  const plans = commands.map((command) => planCommand(runtime, session, command, expiredAt));
  const written = await runtime.ledger.append(plans.flatMap((plan) => plan.statements.map((statement) => toDraft(runtime, session, statement))));

  let next = 0;
  return plans.map(({ command, statements, denial }) => ({
    sessionId,
    commandId: command.commandId,
    decision: denial ? 'deny' : 'allow',
    ...(denial ? { reason: denial } : {}),
    statements: statements.map(({ verdict }, index) => ({
      index,
      decision: verdict.outcome === 'allow' ? 'allow' : 'deny',
      ...(verdict.outcome === 'allow' ? {} : { reason: verdict.reason }),
      entry: written[next++]!.id,
    })),
  }));
}

function toDraft(runtime: Runtime, session: SessionRecord, statement: PlannedStatement): EntryDraft {
  return {
    session: session.id,
    type: 'command',
    time: new Date(runtime.now()).toISOString(),
    identity: session.identity,
    connection: session.connection,
    digest: keyedDigest(runtime, statement.raw),
    data: statement.data,
  };
}

function planCommand(runtime: Runtime, session: SessionRecord, command: AuthorizeCommand, expiredAt: string | undefined): PlannedCommand {
  const common = { commandId: command.commandId, kind: command.kind, policyVersion: runtime.policy.version };
  const refuseWhole = (reason: string, rule: string): PlannedCommand => ({
    command,
    denial: reason,
    statements: [{ verdict: { outcome: 'deny', reason, policies: [rule] }, raw: command.text, data: { ...common, statement: 0, statements: 1, text: '[withheld: not parsed]', decision: 'deny', policies: [rule], reason } }],
  });
  if (expiredAt) return refuseWhole(`the session's token expired at ${expiredAt}; reconnect with a new token`, 'token-expired');
  const analysis = decideSql(runtime.policy, session.identity, session.connection, command.text, sqlStateOf(session.id));
  if (!analysis.ok) return refuseWhole(analysis.error, 'unparsable-sql');

  const count = analysis.statements.length;
  const firstRefused = analysis.statements.findIndex((s) => s.decision.outcome !== 'allow');
  const denial = firstRefused === -1 ? undefined : describeRefusal(analysis.statements[firstRefused]!.decision, firstRefused, count);
  const statements = analysis.statements.map(({ text, maskedText, facts, decision }, index): PlannedStatement => {
    // A statement that policy allows is still not run when another statement in the same message is refused.
    const verdict: Verdict = decision.outcome === 'allow' && denial ? { outcome: 'deny', reason: `not run: ${denial}`, policies: ['same-message'] } : decision;
    return {
      verdict,
      // The digest covers the bound parameters too: what ran is the statement with its values.
      raw: command.parameters === undefined ? text : canonicalJson([text, command.parameters]),
      data: {
        ...common,
        ...(command.parameters === undefined ? {} : { parameters: command.parameters.map(recordableParameter) }),
        statement: index,
        statements: count,
        statementType: facts.statementType,
        action: facts.action,
        actions: facts.actions,
        tablesRead: facts.tablesRead,
        tablesWritten: facts.tablesWritten,
        ...(facts.hiddenWrites.length > 0 ? { hiddenWrites: facts.hiddenWrites } : {}),
        text: capped(maskedText),
        decision: verdict.outcome,
        policies: verdict.policies,
        ...(verdict.outcome === 'allow' ? {} : { reason: verdict.reason }),
      },
    };
  });
  return { command, statements, denial };
}

function describeRefusal(decision: PolicyDecision, index: number, count: number): string {
  // Approvals are decided here; holding a command until someone approves comes with the approval workflow.
  const reason = decision.outcome === 'approval' ? `this command needs approval (${decision.reason}), and approvals cannot be given here yet` : decision.reason;
  return count > 1 ? `statement ${index + 1} of ${count} refused: ${reason}; nothing in this query was run` : reason;
}

function capped(text: string): string {
  return text.length <= MAX_RECORDED_TEXT ? text : `${text.slice(0, MAX_RECORDED_TEXT)}…[${text.length - MAX_RECORDED_TEXT} more characters; see digest]`;
}

/** A bound parameter as the ledger may hold it: detected values masked, binary values and long ones withheld. */
function recordableParameter(value: string | null): string | null {
  if (value === null) return null;
  if (value.startsWith('base64:')) return `[binary, ${Buffer.from(value.slice(7), 'base64').length} bytes]`;
  const masked = maskText(value, contentDetectors).text;
  return masked.length <= MAX_RECORDED_PARAMETER ? masked : `${masked.slice(0, MAX_RECORDED_PARAMETER)}…[${masked.length - MAX_RECORDED_PARAMETER} more characters]`;
}
