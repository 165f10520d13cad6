/** Plans a SQL command (a Query's statements, or an Execute): facts from the PostgreSQL parser, then Cedar per statement. */
import { canonicalJson } from '../../core/canonical-json.js';
import type { AuthorizeCommand } from '../../core/contract.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import { capped, commonData, mergedApproval, refusedWhole, type PlannedCommand, type PlannedStatement, type Verdict } from './command-plan.js';
import type { PolicyDecision, PolicyEngine } from './policy-engine.js';
import type { SessionRecord } from './session-store.js';
import { decideSql } from './sql-decision.js';
import { newSessionSqlState, type SessionSqlState } from './sql-facts.js';

const MAX_RECORDED_PARAMETER = 256;

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

export function planSql(policy: PolicyEngine, session: SessionRecord, command: AuthorizeCommand): PlannedCommand {
  const common = commonData(command, policy.version);
  const analysis = decideSql(policy, session.identity, session.connection, command.text, sqlStateOf(session.id));
  if (!analysis.ok) return refusedWhole(command, policy.version, analysis.error, 'unparsable-sql');

  const count = analysis.statements.length;
  const firstDenied = analysis.statements.findIndex((s) => s.decision.outcome === 'deny');
  const denial = firstDenied === -1 ? undefined : describeRefusal(analysis.statements[firstDenied]!.decision, firstDenied, count);
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
  const held = denial ? undefined : mergedApproval(analysis.statements.map((s) => s.decision));
  return { command, statements, denial, ...(held ? { held, maskedText: capped(analysis.statements.map((s) => s.maskedText).join(';\n')) } : {}) };
}

function describeRefusal(decision: PolicyDecision, index: number, count: number): string {
  return count > 1 ? `statement ${index + 1} of ${count} refused: ${decision.reason}; nothing in this query was run` : decision.reason;
}

/** A bound parameter as the ledger may hold it: detected values masked, binary values and long ones withheld. */
function recordableParameter(value: string | null): string | null {
  if (value === null) return null;
  if (value.startsWith('base64:')) return `[binary, ${Buffer.from(value.slice(7), 'base64').length} bytes]`;
  const masked = maskText(value, contentDetectors).text;
  return masked.length <= MAX_RECORDED_PARAMETER ? masked : `${masked.slice(0, MAX_RECORDED_PARAMETER)}…[${masked.length - MAX_RECORDED_PARAMETER} more characters]`;
}
