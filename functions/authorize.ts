/**
 * POST /v1/authorize — decides a batch of commands, possibly from many sessions, and makes
 * one `command` entry per SQL statement durable before it answers (fail closed: no answer,
 * no forwarding). A command is allowed only if every statement in it is allowed, because
 * the proxy forwards a protocol message whole or not at all.
 */
import { createHmac } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { authorizeRequestSchema, type AuthorizeCommand, type AuthorizeResponse, type CommandDecision } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { entryId } from '../core/ledger/entry.js';
import { evaluateDenyList, type PolicyDecision } from '../core/policy/deny-list.js';
import { formatTable } from '../core/policy/sql-facts.js';
import { apiErrors, json, parseJsonBody, requireProxyKey } from './lib/http.js';
import { getRuntime, type Runtime } from './lib/runtime.js';
import { analyzeSql, sqlParserReady, type AnalyzedStatement } from './lib/sql.js';
import type { EntryDraft } from './lib/store.js';

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
  return commands.map((command) => ({
    sessionId,
    commandId: command.commandId,
    decision: 'deny',
    reason: error.message,
    error: error.code,
    statements: [],
  }));
}

interface PlannedStatement {
  readonly decision: PolicyDecision;
  readonly draftData: Record<string, unknown>;
}

async function decideSession(runtime: Runtime, sessionId: string, commands: readonly AuthorizeCommand[]): Promise<CommandDecision[]> {
  const session = await runtime.store.getSession(sessionId);
  if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${sessionId}`);
  if (session.endedAt) throw new WardenError('SESSION_ENDED', `session ${sessionId} ended at ${session.endedAt}`);
  const expired = runtime.now() >= Date.parse(session.expiresAt);
  const time = new Date(runtime.now()).toISOString();

  const plans = commands.map((command) => planCommand(runtime, command, expired ? session.expiresAt : undefined));
  const drafts: EntryDraft[] = plans.flatMap((plan) =>
    plan.statements.map((statement) => ({ type: 'command' as const, time, identity: session.identity, connection: session.connection, data: statement.draftData })),
  );
  const written = await runtime.store.append(sessionId, drafts);

  let next = 0;
  return plans.map(({ command, statements, denial }) => ({
    sessionId,
    commandId: command.commandId,
    decision: denial ? 'deny' : 'allow',
    ...(denial ? { reason: denial } : {}),
    statements: statements.map((statement, index) => {
      const stored = written[next++]!;
      return {
        index,
        decision: statement.decision.decision,
        ...(statement.decision.decision === 'deny' ? { reason: statement.decision.reason } : {}),
        entry: entryId(stored.session, stored.seq),
      };
    }),
  }));
}

function planCommand(runtime: Runtime, command: AuthorizeCommand, expiredAt: string | undefined) {
  const digest = keyedDigest(runtime, command.text);
  const common = { commandId: command.commandId, kind: command.kind, policyVersion: runtime.policyVersion };
  const analysis = analyzeSql(command.text);

  const plannedDenial = (reason: string, rule: string): PlannedStatement => ({
    decision: { decision: 'deny', rule, reason },
    draftData: { ...common, statement: 0, statements: 1, text: '[withheld: not parsed]', digest, decision: 'deny', rule, reason },
  });
  if (expiredAt) {
    const reason = `the session's token expired at ${expiredAt}; reconnect with a new token`;
    return { command, statements: [plannedDenial(reason, 'token-expired')], denial: reason };
  }
  if (!analysis.ok) {
    return { command, statements: [plannedDenial(analysis.error, 'unparsable-sql')], denial: analysis.error };
  }

  const decisions = analysis.statements.map((statement) => evaluateDenyList(runtime.config.policy.deny, statement.facts));
  const firstDenied = decisions.findIndex((d) => d.decision === 'deny');
  const denial = firstDenied === -1 ? undefined : describeDenial(decisions[firstDenied]!, firstDenied, decisions.length);
  const statements = analysis.statements.map((statement, index): PlannedStatement => {
    // A statement that policy allows is still not run when another statement in the same message is denied.
    const own = decisions[index]!;
    const decision: PolicyDecision =
      own.decision === 'allow' && denial ? { decision: 'deny', rule: 'same-message', reason: `not run: ${denial}` } : own;
    return { decision, draftData: statementData(common, statement, analysis.statements.length, keyedDigest(runtime, statement.text), decision) };
  });
  return { command, statements, denial };
}

function describeDenial(decision: PolicyDecision, index: number, count: number): string {
  const reason = decision.decision === 'deny' ? decision.reason : '';
  return count > 1 ? `statement ${index + 1} of ${count} denied: ${reason}; nothing in this query was run` : reason;
}

/** HMAC, not a bare hash: a low-entropy literal (an SSN) must not be recoverable by brute force from the ledger. */
function keyedDigest(runtime: Runtime, text: string): string {
  return createHmac('sha256', runtime.digestKey).update(text, 'utf8').digest('hex');
}

function statementData(
  common: Record<string, unknown>,
  statement: AnalyzedStatement,
  count: number,
  digest: string,
  decision: PolicyDecision,
): Record<string, unknown> {
  return {
    ...common,
    statement: statement.index,
    statements: count,
    statementType: statement.facts.statementType,
    tables: statement.facts.tables.map(formatTable),
    text: statement.maskedText,
    digest,
    decision: decision.decision,
    ...(decision.decision === 'deny' ? { rule: decision.rule, reason: decision.reason } : {}),
  };
}
