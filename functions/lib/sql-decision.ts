/**
 * One decision per SQL statement: the statement's facts from the PostgreSQL parser, then a
 * Cedar decision for every action it performs (a SELECT whose CTE deletes is decided as a
 * select and as a delete); the strictest outcome wins. The control plane and
 * `warden policy test` both decide through here.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { Outcome, PolicyDecision, PolicyEngine } from './policy-engine.js';
import { sqlFacts, type SessionSqlState, type SqlStatementFacts } from './sql-facts.js';

export interface StatementDecision {
  readonly text: string;
  readonly maskedText: string;
  readonly facts: SqlStatementFacts;
  readonly decision: PolicyDecision;
}

export type SqlDecision = { readonly ok: true; readonly statements: readonly StatementDecision[] } | { readonly ok: false; readonly error: string };

const severity: Record<Outcome, number> = { allow: 0, approval: 1, deny: 2 };

/**
 * Whatever the policy says: statements are decided on their UTF-8 text, so a server reading
 * another client encoding (SJIS, BIG5, GBK…) would run something else than what was decided.
 */
const KEEP_UTF8: PolicyDecision = {
  outcome: 'deny',
  policies: ['warden-client-encoding'],
  reason: 'client_encoding must stay UTF8 through the gateway: Warden decides each statement on its UTF-8 text',
};

export function decideSql(engine: PolicyEngine, identity: IdentityChain, connection: string, sql: string, state?: SessionSqlState): SqlDecision {
  const result = sqlFacts(sql, state);
  if (!result.ok) return result;
  const count = result.statements.length;
  return {
    ok: true,
    statements: result.statements.map(({ text, maskedText, facts }) => {
      const context = sqlContext(facts, count);
      const decisions = (facts.actions.length > 0 ? facts.actions : [facts.action]).map((action) =>
        engine.decide({ identity, action, resource: { type: 'Connection', id: connection }, context }),
      );
      return { text, maskedText, facts, decision: facts.changesSettings.includes('client_encoding') ? KEEP_UTF8 : strictest(decisions) };
    }),
  };
}

function strictest(decisions: readonly PolicyDecision[]): PolicyDecision {
  const worst = Math.max(...decisions.map((d) => severity[d.outcome]));
  const deciding = decisions.filter((d) => severity[d.outcome] === worst);
  const requirements = new Map(deciding.flatMap((d) => d.requirements ?? []).map((requirement) => [requirement.policy, requirement]));
  return {
    outcome: deciding[0]!.outcome,
    policies: [...new Set(deciding.flatMap((d) => d.policies))],
    reason: [...new Set(deciding.map((d) => d.reason))].join('; '),
    ...(requirements.size > 0 ? { requirements: [...requirements.values()] } : {}),
  };
}

/** The Cedar context (schema type SqlFacts). A qualified table is listed as written and by its bare name, so `contains("secrets")` matches it in any schema. */
export function sqlContext(facts: SqlStatementFacts, statementCount: number): Record<string, CedarValueJson> {
  return {
    statementType: facts.statementType,
    statementCount,
    tablesRead: withBareNames(facts.tablesRead),
    tablesWritten: withBareNames(facts.tablesWritten),
    hasWhere: facts.hasWhere !== false,
    functions: [...facts.functions],
    hiddenWrites: [...facts.hiddenWrites],
    copyProgram: facts.copyProgram,
    changesRole: facts.changesRole,
    changesSettings: [...facts.changesSettings],
    dynamicSql: facts.dynamicSql,
  };
}

function withBareNames(tables: readonly string[]): string[] {
  const names = new Set(tables);
  for (const table of tables) {
    const dot = table.lastIndexOf('.');
    if (dot !== -1) names.add(table.slice(dot + 1));
  }
  return [...names].sort();
}
