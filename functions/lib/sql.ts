/**
 * SQL facts from the real PostgreSQL parser (libpg-query, WASM). Never regex: a comment, a
 * change of case or a statement hidden in a CTE must not change what policy sees.
 */
import { loadModule, normalizeSync, parseSync } from 'libpg-query';
import type { StatementFacts, TableRef } from '../../core/policy/sql-facts.js';

export interface AnalyzedStatement {
  readonly index: number;
  /** The statement as the client sent it. Never stored: it may carry sensitive literals. */
  readonly text: string;
  /** The statement with every literal replaced by a placeholder ($1, $2, …): safe to record. */
  readonly maskedText: string;
  readonly facts: StatementFacts;
}

export type SqlAnalysis =
  | { readonly ok: true; readonly statements: readonly AnalyzedStatement[] }
  | { readonly ok: false; readonly error: string };

const ready = loadModule();

/** Resolves once the parser's WASM module is loaded; call before analyzeSql. */
export function sqlParserReady(): Promise<void> {
  return ready;
}

interface RawStatement {
  stmt: Record<string, unknown>;
  stmt_location?: number;
  stmt_len?: number;
}

/** Splits a query string into statements and takes the facts of each. */
export function analyzeSql(sql: string): SqlAnalysis {
  let parsed: { stmts: RawStatement[] };
  try {
    parsed = parseSync(sql) as { stmts: RawStatement[] };
  } catch (error) {
    if (sql.trim() === '') return { ok: true, statements: [emptyStatement(sql)] };
    return { ok: false, error: `SQL does not parse: ${(error as Error).message}` };
  }
  if (parsed.stmts.length === 0) return { ok: true, statements: [emptyStatement(sql)] };
  // stmt_location and stmt_len are byte offsets into the UTF-8 query string.
  const bytes = Buffer.from(sql, 'utf8');
  const statements = parsed.stmts.map((raw, index) => {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len === undefined || raw.stmt_len === 0 ? bytes.length : start + raw.stmt_len;
    const text = bytes.subarray(start, end).toString('utf8').trim();
    const [statementType = 'Unknown', node] = Object.entries(raw.stmt)[0] ?? [];
    return { index, text, maskedText: maskLiterals(text), facts: { statementType, tables: tablesOf(statementType, node) } };
  });
  return { ok: true, statements };
}

function emptyStatement(text: string): AnalyzedStatement {
  return { index: 0, text, maskedText: '', facts: { statementType: 'EmptyQuery', tables: [] } };
}

function maskLiterals(statement: string): string {
  try {
    return normalizeSync(statement);
  } catch {
    // The statement parsed as part of the whole string, so this is not expected; never fall back to the raw text.
    return '[statement text withheld: literals could not be masked]';
  }
}

const droppedRelationKinds = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX']);

function tablesOf(statementType: string, node: unknown): TableRef[] {
  const found = new Map<string, TableRef>();
  const add = (ref: TableRef) => found.set(`${ref.schema ?? ''}.${ref.name}`, ref);
  // A RangeVar appears wrapped ({ RangeVar: {…} }) in lists, but bare where a field's type is
  // fixed (DeleteStmt.relation, InsertStmt.relation, …): recognize it by its relname.
  walk(node, (value) => {
    if (typeof value.relname === 'string') {
      add(typeof value.schemaname === 'string' ? { schema: value.schemaname, name: value.relname } : { name: value.relname });
    }
  });
  // DROP names its objects as lists of strings, not as RangeVars.
  if (statementType === 'DropStmt' && isRecord(node) && droppedRelationKinds.has(String(node.removeType))) {
    for (const object of asArray(node.objects)) {
      const names = asArray(isRecord(object) && isRecord(object.List) ? object.List.items : undefined)
        .map((item) => (isRecord(item) && isRecord(item.String) ? String(item.String.sval) : ''))
        .filter(Boolean);
      const name = names.at(-1);
      if (name) add(names.length > 1 ? { schema: names.at(-2)!, name } : { name });
    }
  }
  return [...found.values()];
}

function walk(value: unknown, visit: (node: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
  } else if (isRecord(value)) {
    visit(value);
    for (const child of Object.values(value)) walk(child, visit);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
