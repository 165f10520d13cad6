/**
 * The DynamoDB tables Warden uses, defined once. The store creates them on dynalite and
 * DynamoDB Local; infra/ declares the same key schemas in CDK.
 *
 * Only single-item conditional writes and batch writes touch these tables (DESIGN.md,
 * invariant 6): dynalite has no TransactWriteItems, and the TTL sweep is never relied on.
 *
 * Life of an entry:
 *   1. the control plane groups concurrent entries into one `batches` item (conditional put
 *      on the next batch number): from then on the entry is durable and acknowledged;
 *   2. the integrator reads batches in order, links each entry into its session's hash
 *      chain, gives it a global index, and writes it to `ledger`;
 *   3. it extends the Merkle tree (`tiles`) and moves the integration state in `log` with
 *      a conditional update, so a crash at any step is repaired by running it again;
 *   4. the checkpointer signs the tree head and exports it to the evidence sink.
 */

export interface TableDefinition {
  /** Logical name; the physical name is `${prefix}-${logicalName}`. */
  readonly logicalName: string;
  readonly partitionKey: { readonly name: string; readonly type: 'S' | 'N' };
  readonly sortKey?: { readonly name: string; readonly type: 'S' | 'N' };
  readonly purpose: string;
}

/** Durable batches of entries, numbered 1, 2, 3 … with no gaps: partition `log`, sort `seq`. */
export const batchesTable: TableDefinition = {
  logicalName: 'batches',
  partitionKey: { name: 'log', type: 'S' },
  sortKey: { name: 'seq', type: 'N' },
  purpose: 'Group-committed batches of entries, in order, each linked to the one before.',
};

/** Integrated entries: partition = session id, sort = position in that session's hash chain. */
export const ledgerTable: TableDefinition = {
  logicalName: 'ledger',
  partitionKey: { name: 'session', type: 'S' },
  sortKey: { name: 'seq', type: 'N' },
  purpose: 'Ledger entries with their global index, hash-chained per session.',
};

/** Merkle tree tiles (C2SP tlog-tiles layout): key `level/index`, up to 256 hashes each. */
export const tilesTable: TableDefinition = {
  logicalName: 'tiles',
  partitionKey: { name: 'tile', type: 'S' },
  purpose: 'Merkle tree hashes, 256 to a tile, for O(log n) proofs.',
};

/** Small named records of the log itself: the integration state and the latest checkpoint. */
export const logTable: TableDefinition = {
  logicalName: 'log',
  partitionKey: { name: 'name', type: 'S' },
  purpose: 'Integration state and the latest signed checkpoint.',
};

/** Revoked tokens and chains: key `jti:<id>` or `chain:<id>`. Checked at every session start and while sessions run. */
export const revocationsTable: TableDefinition = {
  logicalName: 'revocations',
  partitionKey: { name: 'key', type: 'S' },
  purpose: 'Revoked tokens (by jti) and identity chains (by chain id).',
};

/** One item per proxied session: who, where, when it started and ended. */
export const sessionsTable: TableDefinition = {
  logicalName: 'sessions',
  partitionKey: { name: 'id', type: 'S' },
  purpose: 'Session index: identity chain, connection, start and end.',
};

/** Approval requests: a held command or a grant request, its approvers' decisions, and its status. */
export const approvalsTable: TableDefinition = {
  logicalName: 'approvals',
  partitionKey: { name: 'id', type: 'S' },
  purpose: 'Approval requests and the decisions on them, updated with optimistic concurrency.',
};

/** Just-in-time grants: a role on a connection for a bounded time; partition = holder, sort = grant id. */
export const grantsTable: TableDefinition = {
  logicalName: 'grants',
  partitionKey: { name: 'holder', type: 'S' },
  sortKey: { name: 'id', type: 'S' },
  purpose: 'Just-in-time grants and their life cycle.',
};

/** Signed callbacks already accepted (Slack), by signature: a replay finds its key taken. */
export const callbacksTable: TableDefinition = {
  logicalName: 'callbacks',
  partitionKey: { name: 'signature', type: 'S' },
  purpose: 'Replay protection for signed callbacks.',
};

export const tables = [batchesTable, ledgerTable, tilesTable, logTable, sessionsTable, revocationsTable, approvalsTable, grantsTable, callbacksTable] as const;

export function physicalTableName(prefix: string, table: TableDefinition): string {
  return `${prefix}-${table.logicalName}`;
}

/** Physical names of every table under one prefix. */
export function tableNames(prefix: string) {
  return {
    batches: physicalTableName(prefix, batchesTable),
    ledger: physicalTableName(prefix, ledgerTable),
    tiles: physicalTableName(prefix, tilesTable),
    log: physicalTableName(prefix, logTable),
    sessions: physicalTableName(prefix, sessionsTable),
    revocations: physicalTableName(prefix, revocationsTable),
    approvals: physicalTableName(prefix, approvalsTable),
    grants: physicalTableName(prefix, grantsTable),
    callbacks: physicalTableName(prefix, callbacksTable),
  };
}
