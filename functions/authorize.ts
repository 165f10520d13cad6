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
import type { ApprovalRecord } from './lib/approval-store.js';
import { summarize } from './lib/approvals.js';
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
  /** Policy holds the command for approval (and nothing in it is denied): the statements' approvals merged. */
  readonly held?: PolicyDecision;
  /** The whole command, masked, as approvers see it. */
  readonly maskedText?: string;
}

/** A planned command after its approval is settled: a new request opened, or a given one used. */
interface SettledCommand extends PlannedCommand {
  readonly approval?: ApprovalRecord;
  readonly approvalEntry?: EntryDraft;
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
  // A session started with grants runs only while all of them hold.
  const grantEnded = await runtime.grants.firstEnded(session.grants ?? []);
  const plans = await Promise.all(commands.map((command) => settleApproval(runtime, session, planCommand(runtime, session, command, expiredAt, grantEnded))));
  const drafts = plans.flatMap((plan) => [...plan.statements.map((statement) => toDraft(runtime, session, statement)), ...(plan.approvalEntry ? [plan.approvalEntry] : [])]);
  const written = await runtime.ledger.append(drafts);
  for (const plan of plans) if (plan.approvalEntry && plan.approval) await runtime.approvals.announce(plan.approval);

  let next = 0;
  return plans.map(({ command, statements, denial, approval, approvalEntry }) => {
    const waiting = approvalEntry !== undefined && approval !== undefined;
    const decided: CommandDecision = {
      sessionId,
      commandId: command.commandId,
      decision: denial ? 'deny' : waiting ? 'approval' : 'allow',
      ...(denial ? { reason: denial } : waiting ? { reason: approval.policyReason, approval: { id: approval.id, url: runtime.approvals.urlOf(approval.id), expiresAt: approval.expiresAt } } : {}),
      statements: statements.map(({ verdict }, index) => ({
        index,
        decision: verdict.outcome,
        ...(verdict.outcome === 'allow' ? {} : { reason: verdict.reason }),
        entry: written[next++]!.id,
      })),
    };
    if (approvalEntry) next++;
    return decided;
  });
}

/**
 * A held command either opens an approval request, or (asked again with `approvalId`) runs on
 * the approval it got, once. Everything else passes through unchanged.
 */
async function settleApproval(runtime: Runtime, session: SessionRecord, plan: PlannedCommand): Promise<SettledCommand> {
  const { held, command } = plan;
  if (!held || plan.denial) return plan;
  const digest = keyedDigest(runtime, canonicalJson([command.kind, command.text, command.parameters ?? null]));
  if (command.approvalId) {
    try {
      const approval = await runtime.approvals.use(command.approvalId, session.id, digest);
      const reason = `approved (${summarize(approval)})`;
      return { ...plan, held: undefined, statements: plan.statements.map((statement) => withVerdict(statement, statement.verdict.outcome === 'approval' ? { outcome: 'allow', reason, policies: [...statement.verdict.policies, `approval:${approval.id}`] } : statement.verdict, { approval: approval.id })) };
    } catch (error) {
      if (!(error instanceof WardenError) || error.code === 'STORE_UNAVAILABLE') throw error;
      const reason = error.message;
      return { ...plan, denial: reason, statements: plan.statements.map((statement) => withVerdict(statement, { outcome: 'deny', reason, policies: [...statement.verdict.policies, `approval:${command.approvalId}`] }, {})) };
    }
  }
  const { record, entry } = await runtime.approvals.open({
    subject: { kind: 'command', sessionId: session.id, commandId: command.commandId, text: plan.maskedText ?? '', digest },
    requester: session.identity,
    connection: session.connection,
    decision: held,
    justification: session.justification,
  });
  return { ...plan, approval: record, approvalEntry: entry, statements: plan.statements.map((statement) => withVerdict(statement, statement.verdict, { approval: record.id })) };
}

function withVerdict(statement: PlannedStatement, verdict: Verdict, extra: Record<string, unknown>): PlannedStatement {
  const { reason: _reason, ...data } = statement.data;
  return { ...statement, verdict, data: { ...data, ...extra, decision: verdict.outcome, policies: verdict.policies, ...(verdict.outcome === 'allow' ? {} : { reason: verdict.reason }) } };
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

function planCommand(runtime: Runtime, session: SessionRecord, command: AuthorizeCommand, expiredAt: string | undefined, grantEnded: string | undefined): PlannedCommand {
  const common = { commandId: command.commandId, kind: command.kind, policyVersion: runtime.policy.version };
  const refuseWhole = (reason: string, rule: string): PlannedCommand => ({
    command,
    denial: reason,
    statements: [{ verdict: { outcome: 'deny', reason, policies: [rule] }, raw: command.text, data: { ...common, statement: 0, statements: 1, text: '[withheld: not parsed]', decision: 'deny', policies: [rule], reason } }],
  });
  if (expiredAt) return refuseWhole(`the session's token expired at ${expiredAt}; reconnect with a new token`, 'token-expired');
  if (grantEnded) return refuseWhole(`the session's ${grantEnded}; reconnect, or ask for a new grant with warden grant request`, 'grant-ended');
  const analysis = decideSql(runtime.policy, session.identity, session.connection, command.text, sqlStateOf(session.id));
  if (!analysis.ok) return refuseWhole(analysis.error, 'unparsable-sql');

  const count = analysis.statements.length;
  const firstDenied = analysis.statements.findIndex((s) => s.decision.outcome === 'deny');
  const denial = firstDenied === -1 ? undefined : describeRefusal(analysis.statements[firstDenied]!.decision, firstDenied, count);
  const approvals = analysis.statements.map((s) => s.decision).filter((d) => d.outcome === 'approval');
  const statements = analysis.statements.map(({ text, maskedText, facts, decision }, index): PlannedStatement => {
    // A statement that policy allows is still not run when another statement in the same message is refused.
    const verdict: Verdict = decision.outcome !== 'deny' && denial ? { outcome: 'deny', reason: `not run: ${denial}`, policies: ['same-message'] } : decision;
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
  const held: PolicyDecision | undefined =
    approvals.length === 0 || denial
      ? undefined
      : { outcome: 'approval', reason: [...new Set(approvals.map((d) => d.reason))].join('; '), policies: [...new Set(approvals.flatMap((d) => d.policies))], requirements: [...new Map(approvals.flatMap((d) => d.requirements ?? []).map((r) => [r.policy, r])).values()] };
  return { command, statements, denial, ...(held ? { held, maskedText: capped(analysis.statements.map((s) => s.maskedText).join(';\n')) } : {}) };
}

function describeRefusal(decision: PolicyDecision, index: number, count: number): string {
  return count > 1 ? `statement ${index + 1} of ${count} refused: ${decision.reason}; nothing in this query was run` : decision.reason;
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
