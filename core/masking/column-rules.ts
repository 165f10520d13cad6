/** A rule that masks a whole column, whatever its values hold. */
export interface ColumnRule {
  readonly id: string;
  /** Defaults to "public". */
  readonly schema?: string;
  readonly table: string;
  readonly column: string;
}

/** A result column traced back to the table column it reads. */
export interface ColumnIdentity {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
}

/**
 * The first rule naming this column, or undefined. Names compare exactly, as the catalog stores
 * them: an unquoted identifier is already folded to lower case there, so rules should be too.
 */
export function findColumnRule(rules: readonly ColumnRule[], column: ColumnIdentity): ColumnRule | undefined {
  return rules.find(
    (rule) => (rule.schema ?? 'public') === column.schema && rule.table === column.table && rule.column === column.column,
  );
}
