/**
 * POST /v1/authorize — decides a batch of commands (SQL statements, SSH commands, Kubernetes
 * requests), possibly from many sessions, and makes one `command` entry per statement durable before it answers (fail closed: no answer,
 * no forwarding). A command is allowed only if every statement in it is allowed, because
 * the proxy forwards a protocol message whole or not at all.
 */
import { authorizeRequestSchema, type AuthorizeCommand, type AuthorizeResponse, type CommandDecision } from '../core/contract.js';
import { canonicalJson } from '../core/canonical-json.js';
import { WardenError } from '../core/errors.js';
import type { EntryDraft } from '../core/ledger/entry.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime, keyedDigest, type Runtime } from './lib/runtime.js';
import type { ApprovalRecord } from './lib/approval-store.js';
import { summarize } from './lib/approvals.js';
import type { SessionRecord } from './lib/session-store.js';
import { refusedWhole, type PlannedCommand, type PlannedStatement, type Verdict } from './lib/command-plan.js';
import { sqlParserReady } from './lib/sql-facts.js';
import { planSql } from './lib/sql-plan.js';
import { planSsh } from './lib/ssh-plan.js';
import { planKubernetes } from './lib/kubernetes-plan.js';

export const handler = apiHandler({ audience: 'proxy' })
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

/** A planned command after its approval is settled: a new request opened, or a given one used. */
interface SettledCommand extends PlannedCommand {
  readonly approval?: ApprovalRecord;
  readonly approvalEntry?: EntryDraft;
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
  const { policy } = runtime;
  if (expiredAt) return refusedWhole(command, policy.version, `the session's token expired at ${expiredAt}; reconnect with a new token`, 'token-expired');
  if (grantEnded) return refusedWhole(command, policy.version, `the session's ${grantEnded}; reconnect, or ask for a new grant with warden grant request`, 'grant-ended');
  if (command.kind.startsWith('sql.')) return planSql(policy, session, command);
  return command.kind.startsWith('k8s.') ? planKubernetes(policy, session, command) : planSsh(policy, session, command);
}
