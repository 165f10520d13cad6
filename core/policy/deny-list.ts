import type { DenyRule } from '../config.js';
import { formatTable, type StatementFacts, type TableRef } from './sql-facts.js';

export type PolicyDecision =
  | { readonly decision: 'allow' }
  | { readonly decision: 'deny'; readonly rule: string; readonly reason: string };

/**
 * Policy v0: the statement is denied if any rule names its statement type or any table it
 * touches. A rule's table "a.b" matches only schema a; a bare "b" matches b in any schema.
 */
export function evaluateDenyList(rules: readonly DenyRule[], facts: StatementFacts): PolicyDecision {
  for (const rule of rules) {
    if (rule.statements?.includes(facts.statementType)) {
      return { decision: 'deny', rule: rule.id, reason: `${rule.reason} (rule ${rule.id}: ${facts.statementType})` };
    }
    const table = facts.tables.find((ref) => rule.tables?.some((pattern) => tableMatches(pattern, ref)));
    if (table) {
      return { decision: 'deny', rule: rule.id, reason: `${rule.reason} (rule ${rule.id}: table ${formatTable(table)})` };
    }
  }
  return { decision: 'allow' };
}

function tableMatches(pattern: string, ref: TableRef): boolean {
  const dot = pattern.indexOf('.');
  if (dot === -1) return pattern === ref.name;
  return pattern.slice(0, dot) === (ref.schema ?? 'public') && pattern.slice(dot + 1) === ref.name;
}
