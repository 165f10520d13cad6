/**
 * What each control-plane function may touch. Every route function shares one grant: put
 * batches (BatchWriter), read and write the session tables, and verify Warden tokens with the
 * token key's public half. Anything more (a secret, a signing key, the ledger tables, the
 * evidence bucket) is named here per entry, so a new route starts with the shared grant only.
 * A route that touches no table (the token issuer's metadata) gets no table at all.
 */
import type { Route } from '../functions/routes.js';
import { approvalsTable, batchesTable, callbacksTable, grantsTable, ledgerTable, logTable, revocationsTable, sessionsTable, tilesTable, type TableDefinition } from '../functions/lib/tables.js';

/** No level includes DeleteItem: nothing in the store deletes. */
export type TableAccess = 'read' | 'put' | 'update' | 'batchWrite';

export const tableActions: Record<TableAccess, readonly string[]> = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan'],
  put: ['dynamodb:PutItem'],
  update: ['dynamodb:UpdateItem'],
  // The integrator's idempotent writes of ledger items (tiles are conditional puts that only
  // grow them). IAM cannot tell a BatchWriteItem put from a delete: the Merkle tree and the
  // exported checkpoints show one.
  batchWrite: ['dynamodb:BatchWriteItem'],
};

export type SlackSecret = 'webhookUrl' | 'signingSecret';

export interface FunctionAccess {
  readonly tables: readonly (readonly [TableDefinition, readonly TableAccess[]])[];
  /** Behind a proxy route: told which role's sessions the proxy fleet's are. */
  readonly servesProxy?: boolean;
  /** kms:GetPublicKey on the token key, to verify Warden tokens. */
  readonly verifiesTokens?: boolean;
  /** kms:Sign with the token key (RS256 Warden tokens) or the log key (Ed25519 checkpoints and manifests). */
  readonly signs?: 'tokens' | 'log';
  /** kms:GetPublicKey on the log key, to check the stored checkpoints against it. */
  readonly verifiesLog?: boolean;
  /** The HMAC key for keyed payload digests (DESIGN.md, invariant 2). */
  readonly digestKey?: boolean;
  readonly slack?: readonly SlackSecret[];
  /** PutObject and PutObjectRetention (and GetObject, to check a retried write) under the evidence prefix; never a delete. */
  readonly writesEvidence?: boolean;
  /** Told which identity provider's tokens it exchanges. */
  readonly exchangesIdentity?: boolean;
  /** Serves the web console: its bundle carries the prebuilt files. */
  readonly servesConsole?: boolean;
  /** Session recordings in the evidence bucket: read them, or sign the proxy's PUT of one (which needs PutObject itself). */
  readonly recordings?: 'read' | 'put';
}

const sessionTables = [sessionsTable, revocationsTable, approvalsTable, grantsTable, callbacksTable].map((table) => [table, ['read', 'put', 'update']] as const);
const routeTables: FunctionAccess['tables'] = [[batchesTable, ['read', 'put']], ...sessionTables];

const routeExtras: Readonly<Record<string, Omit<FunctionAccess, 'tables'>>> = {
  'token.ts': { signs: 'tokens', exchangesIdentity: true },
  'sessions-start.ts': { digestKey: true },
  'sessions-end.ts': { digestKey: true },
  // Held commands and grant requests are announced to the Slack webhook.
  'authorize.ts': { digestKey: true, slack: ['webhookUrl'] },
  'grants-request.ts': { slack: ['webhookUrl'] },
  'results.ts': { digestKey: true },
  // Verifies Slack's v0 signature; its replies go to the response URL Slack sends, not the webhook.
  'slack-interactions.ts': { slack: ['signingSecret'] },
  'ledger-status.ts': { verifiesLog: true },
  'console.ts': { servesConsole: true },
  'recordings-upload.ts': { recordings: 'put' },
  'sessions-recording.ts': { recordings: 'read' },
};

/** The console's read routes: the ledger tables they read, beyond the shared grant. */
const routeReads: Readonly<Record<string, readonly TableDefinition[]>> = {
  'sessions-read.ts': [ledgerTable],
  'sessions-recording.ts': [ledgerTable],
  'ledger-status.ts': [logTable, tilesTable],
};

/** Routes that read and write no table: the token key's public half, and the console's own files. */
const withoutTables = new Set(['well-known.ts', 'console.ts']);

/** The access of the function behind a route entry, from the routes that use it (functions/routes.ts). */
export function routeAccess(entry: string, routes: readonly Route[]): FunctionAccess {
  const servesProxy = routes.some((route) => route.entry === entry && route.audience === 'proxy');
  const reads = (routeReads[entry] ?? []).map((table) => [table, ['read']] as const);
  return { tables: withoutTables.has(entry) ? [] : [...routeTables, ...reads], verifiesTokens: true, ...(servesProxy ? { servesProxy } : {}), ...routeExtras[entry] };
}
