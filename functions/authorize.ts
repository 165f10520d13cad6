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
import { evaluateDenyList, type PolicyDecision } from '../core/policy/deny-list.js';
import { formatTable } from '../core/policy/sql-facts.js';
import { apiErrors, json, parseJsonBody, requireProxyKey } from './lib/http.js';
import { getRuntime, keyedDigest, type Runtime } from './lib/runtime.js';
import type { SessionRecord } from './lib/session-store.js';
import { analyzeSql, sqlParserReady } from './lib/sql.js';

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
    for (const command of commands) bySession.set(command.sessionId, [...(bySession.get(command.sessionId) ?? []), command]);
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

interface PlannedStatement {
  readonly decision: PolicyDecision;
  readonly data: Record<string, unknown>;
  readonly raw: string;
}

interface PlannedCommand {
  readonly command: AuthorizeCommand;
  readonly statements: readonly PlannedStatement[];
  readonly denial: string | undefined;
}

async function decideSession(runtime: Runtime, sessionId: string, commands: readonly AuthorizeCommand[]): Promise<CommandDecision[]> {
  const session = await runtime.sessions.get(sessionId);
  if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${sessionId}`);
  if (session.endedAt) throw new WardenError('SESSION_ENDED', `session ${sessionId} ended at ${session.endedAt}`);
  const expiredAt = runtime.now() >= Date.parse(session.expiresAt) ? session.expiresAt : undefined;
  const plans = commands.map((command) => planCommand(runtime, command, expiredAt));
  const written = await runtime.ledger.append(plans.flatMap((plan) => plan.statements.map((statement) => toDraft(runtime, session, statement))));

  let next = 0;
  return plans.map(({ command, statements, denial }) => ({
    sessionId,
    commandId: command.commandId,
    decision: denial ? 'deny' : 'allow',
    ...(denial ? { reason: denial } : {}),
    statements: statements.map(({ decision }, index) => ({
      index,
      decision: decision.decision,
      ...(decision.decision === 'deny' ? { reason: decision.reason } : {}),
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

function planCommand(runtime: Runtime, command: AuthorizeCommand, expiredAt: string | undefined): PlannedCommand {
  const common = { commandId: command.commandId, kind: command.kind, policyVersion: runtime.policyVersion };
  const refuseWhole = (reason: string, rule: string): PlannedCommand => ({
    command,
    denial: reason,
    statements: [{ decision: { decision: 'deny', rule, reason }, raw: command.text, data: { ...common, statement: 0, statements: 1, text: '[withheld: not parsed]', decision: 'deny', rule, reason } }],
  });
  if (expiredAt) return refuseWhole(`the session's token expired at ${expiredAt}; reconnect with a new token`, 'token-expired');
  const analysis = analyzeSql(command.text);
  if (!analysis.ok) return refuseWhole(analysis.error, 'unparsable-sql');

  const own = analysis.statements.map((statement) => evaluateDenyList(runtime.config.policy.deny, statement.facts));
  const firstDenied = own.findIndex((d) => d.decision === 'deny');
  const denial = firstDenied === -1 ? undefined : describeDenial(own[firstDenied]!, firstDenied, own.length);
  const statements = analysis.statements.map((statement, index): PlannedStatement => {
    // A statement that policy allows is still not run when another statement in the same message is denied.
    const decision: PolicyDecision = own[index]!.decision === 'allow' && denial ? { decision: 'deny', rule: 'same-message', reason: `not run: ${denial}` } : own[index]!;
    return {
      decision,
      // The digest covers the bound parameters too: what ran is the statement with its values.
      raw: command.parameters === undefined ? statement.text : canonicalJson([statement.text, command.parameters]),
      data: {
        ...common,
        ...(command.parameters === undefined ? {} : { parameters: command.parameters.map(recordableParameter) }),
        statement: index,
        statements: analysis.statements.length,
        statementType: statement.facts.statementType,
        tables: statement.facts.tables.map(formatTable),
        text: capped(statement.maskedText),
        decision: decision.decision,
        ...(decision.decision === 'deny' ? { rule: decision.rule, reason: decision.reason } : {}),
      },
    };
  });
  return { command, statements, denial };
}

function describeDenial(decision: PolicyDecision, index: number, count: number): string {
  const reason = decision.decision === 'deny' ? decision.reason : '';
  return count > 1 ? `statement ${index + 1} of ${count} denied: ${reason}; nothing in this query was run` : reason;
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
