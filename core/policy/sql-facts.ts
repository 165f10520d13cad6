/** What the control plane knows about one SQL statement, taken from the PostgreSQL parser. */
export interface StatementFacts {
  /** Parse-tree node type of the statement: SelectStmt, DropStmt, … */
  readonly statementType: string;
  /** Every relation the statement names, anywhere in its tree (CTEs, subqueries, joins). */
  readonly tables: readonly TableRef[];
}

export interface TableRef {
  readonly schema?: string;
  readonly name: string;
}

export function formatTable(table: TableRef): string {
  return table.schema ? `${table.schema}.${table.name}` : table.name;
}
