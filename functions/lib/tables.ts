/**
 * The DynamoDB tables Warden uses, defined once. The store creates them on dynalite and
 * DynamoDB Local; infra/ declares the same key schemas in CDK.
 *
 * Only single-item conditional writes and batch writes touch these tables (DESIGN.md,
 * invariant 6): dynalite has no TransactWriteItems and the TTL sweep is never relied on.
 */

export interface TableDefinition {
  /** Logical name; the physical name is `${prefix}-${logicalName}`. */
  readonly logicalName: string;
  readonly partitionKey: { readonly name: string; readonly type: 'S' | 'N' };
  readonly sortKey?: { readonly name: string; readonly type: 'S' | 'N' };
  readonly purpose: string;
}

/** One item per ledger entry: partition = session id, sort = sequence number in that session's hash chain. */
export const ledgerTable: TableDefinition = {
  logicalName: 'ledger',
  partitionKey: { name: 'session', type: 'S' },
  sortKey: { name: 'seq', type: 'N' },
  purpose: 'Ledger entries, hash-chained per session.',
};

/** One item per proxied session: who, where, when it started and ended. */
export const sessionsTable: TableDefinition = {
  logicalName: 'sessions',
  partitionKey: { name: 'id', type: 'S' },
  purpose: 'Session index: identity chain, connection, start and end.',
};

export const tables = [ledgerTable, sessionsTable] as const;

export function physicalTableName(prefix: string, table: TableDefinition): string {
  return `${prefix}-${table.logicalName}`;
}
