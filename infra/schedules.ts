/**
 * The control plane's scheduled jobs: the log's background work that `warden up` runs on
 * timers (LedgerService, startScheduledExports). Entries are repository-relative files that
 * export `handler`; the stack makes one function and one EventBridge rule per job.
 */
import { Duration } from 'aws-cdk-lib';
import { batchesTable, ledgerTable, logTable, sessionsTable, tables, tilesTable } from '../functions/lib/tables.js';
import type { FunctionAccess } from './access.js';

export interface ScheduledJob {
  readonly name: string;
  readonly entry: string;
  readonly every: Duration;
  readonly timeout: Duration;
  readonly access: FunctionAccess;
  readonly environment?: Readonly<Record<string, string>>;
}

export function scheduledJobs(exportIntervalMinutes: number): ScheduledJob[] {
  return [
    {
      // Links durable batches into the hash chains and the Merkle tree. Two runs that overlap
      // are safe: only one moves the integration state (functions/lib/integrator.ts).
      name: 'integrate',
      entry: 'infra/handlers/integrate.ts',
      every: Duration.minutes(1),
      timeout: Duration.minutes(2),
      access: { tables: [[batchesTable, ['read']], [ledgerTable, ['read', 'batchWrite']], [tilesTable, ['read', 'put']], [logTable, ['read', 'update']]] },
    },
    {
      // Signs the tree head when it grew, after proving it extends the last one signed.
      name: 'checkpoint',
      entry: 'infra/handlers/checkpoint.ts',
      every: Duration.minutes(1),
      timeout: Duration.minutes(2),
      access: { tables: [[tilesTable, ['read']], [logTable, ['read', 'put']]], signs: 'log', writesEvidence: true },
    },
    {
      // Writes the session.end of sessions whose proxy stopped without ending them, once their
      // token has been expired for a while (functions/lib/orphaned-sessions.ts).
      name: 'end-orphaned-sessions',
      entry: 'infra/handlers/end-orphaned-sessions.ts',
      every: Duration.minutes(5),
      timeout: Duration.minutes(2),
      access: { tables: [[batchesTable, ['read', 'put']], [sessionsTable, ['read', 'update']]], digestKey: true },
    },
    {
      // Integrates and checkpoints first (integrateAndSign), then bundles every table's
      // evidence; its cursor is an item of the log table.
      name: 'export-scheduled',
      entry: 'functions/export-scheduled.ts',
      every: Duration.minutes(exportIntervalMinutes),
      timeout: Duration.minutes(15),
      access: {
        tables: tables.map((table) => [table, table === logTable ? ['read', 'put', 'update'] : table === ledgerTable ? ['read', 'batchWrite'] : table === tilesTable ? ['read', 'put'] : ['read']] as const),
        signs: 'log',
        writesEvidence: true,
      },
      environment: { WARDEN_EVIDENCE_EXPORT_INTERVAL_MINUTES: String(exportIntervalMinutes) },
    },
  ];
}
