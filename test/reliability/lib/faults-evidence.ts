/**
 * The two records a fault test holds against each other: what PostgreSQL itself logged
 * (log_statement=all), and what the ledger holds once `warden checkpoint` has integrated
 * everything durable; and the ledger's verification as `warden verify` runs it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { integrateAndCheckpoint } from '../../../cli/checkpoint.js';
import type { LoadedConfig } from '../../../cli/config-file.js';
import { verifyLiveLog } from '../../../cli/verify.js';
import type { LedgerEntry } from '../../../core/ledger/entry.js';
import type { LogReport } from '../../../core/ledger/log-verify.js';
import { createDynamoClient } from '../../../functions/lib/dynamodb.js';
import { LedgerReader } from '../../../functions/lib/ledger-reader.js';
import type { TestPostgres } from '../../helpers/postgres.js';

/** The server setting that puts the role before each log line: `warden_app:LOG:  statement: …`. */
export const LOG_LINE_PREFIX = '%u:';

export interface LoggedStatement {
  readonly user: string;
  readonly text: string;
}

/**
 * Every statement the server logged. startTestPostgres writes the server log to server.log in
 * the directory that also holds its Unix socket. Simple Query statements are logged as
 * `statement: …`, Extended Query ones as `execute <name>: …`.
 */
export async function loggedStatements(db: TestPostgres): Promise<LoggedStatement[]> {
  const dir = await db.sql('SHOW unix_socket_directories');
  const log = await readFile(join(dir, 'server.log'), 'utf8');
  const statements: LoggedStatement[] = [];
  for (const line of log.split('\n')) {
    const match = /^([^:]*):LOG: {2}(?:statement|execute [^:]*): (.*)$/.exec(line);
    if (match) statements.push({ user: match[1]!, text: match[2]! });
  }
  return statements;
}

export interface LedgerCheck {
  readonly entries: readonly LedgerEntry[];
  readonly report: LogReport;
}

/** Integrates and signs (`warden checkpoint`), verifies (`warden verify`), then reads every entry: the CLI's own code, in process. */
export async function settledLedger(loaded: LoadedConfig): Promise<LedgerCheck> {
  await integrateAndCheckpoint(loaded);
  const report = await verifyLiveLog(loaded, { progress: () => undefined });
  const reader = new LedgerReader(createDynamoClient({ endpoint: loaded.config.store.endpoint!, region: loaded.config.store.region }), loaded.config.store.tablePrefix);
  const entries: LedgerEntry[] = [];
  for await (const stored of reader.entries()) entries.push(JSON.parse(stored.entry) as LedgerEntry);
  return { entries, report };
}
