/**
 * Scheduled evidence export: the bundle of the window since the last one ended (the first
 * run: the last intervalMinutes), written to the bundle target, and only then recorded as
 * exported (export-cursor.ts). A run whose write fails leaves its window claimed; the next
 * run writes exactly that window before it goes on to the present.
 *
 * The EventBridge schedule's handler (functions/export-scheduled.ts) and `warden up`'s timer
 * (startScheduledExports) both run runScheduledExport.
 */
import { packBundle } from '../../../core/evidence/archive.js';
import { integrateAndSign } from '../integrate-and-sign.js';
import type { Runtime } from '../runtime.js';
import { BundleTargetError, type BundleTarget, type StoredBundle } from './bundle-target.js';
import { ExportCursorStore, type CursorWindow } from './export-cursor.js';
import { buildBundle, EvidenceExportError, type EvidenceSources } from './export.js';
import { evidenceSources } from './sources.js';

export interface ScheduledExportDeps {
  readonly intervalMinutes: number;
  readonly retentionDays: number;
  readonly cursor: ExportCursorStore;
  /** Integrates every durable entry and signs a checkpoint, so the window's entries are provable. */
  readonly checkpoint: () => Promise<unknown>;
  readonly sources: EvidenceSources;
  readonly target: BundleTarget;
  readonly log: (event: ExportEvent) => void;
}

export interface ExportEvent {
  readonly level: 'info' | 'warn';
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface ExportedWindow extends StoredBundle {
  /** The manifest's window, both ends included. */
  readonly from: string;
  readonly to: string;
  readonly entries: number;
  readonly verified: boolean;
  /** False when an earlier runner had written it (this one only recorded it). */
  readonly written: boolean;
}

/** Claims and commits per run: a pending window, then the one up to now, with room for lost races. */
const MAX_STEPS = 8;
const DAY_MS = 86_400_000;

/** Exports every window up to `now` not exported yet, in order; returns those this run recorded. */
export async function runScheduledExport(deps: ScheduledExportDeps, now: Date): Promise<ExportedWindow[]> {
  if (deps.intervalMinutes === 0) throw new EvidenceExportError('scheduled export is off (evidence.export.intervalMinutes is 0); set it to 5 or more');
  await deps.checkpoint();
  const recorded: ExportedWindow[] = [];
  for (let step = 0; step < MAX_STEPS; step++) {
    const cursor = await deps.cursor.read();
    if (cursor.pending) {
      const exported = await exportWindow(deps, cursor.pending, now);
      if (await deps.cursor.replace(cursor, { exportedTo: cursor.pending.to })) {
        deps.log({ level: 'info', event: 'export-recorded', ...exported });
        recorded.push(exported);
      } else {
        deps.log({ level: 'info', event: 'export-recorded-by-another-runner', key: exported.key });
      }
      continue;
    }
    const from = cursor.exportedTo ?? new Date(now.getTime() - deps.intervalMinutes * 60_000).toISOString();
    if (Date.parse(from) >= now.getTime()) return recorded;
    const window: CursorWindow = { from, to: now.toISOString() };
    const claimed = await deps.cursor.replace(cursor, { ...(cursor.exportedTo ? { exportedTo: cursor.exportedTo } : {}), pending: window });
    deps.log({ level: 'info', event: claimed ? 'export-claimed' : 'export-claimed-by-another-runner', ...window });
  }
  deps.log({ level: 'warn', event: 'export-gave-way', detail: `other runners kept moving the cursor; ${recorded.length} windows recorded by this run` });
  return recorded;
}

/** The runtime's stores, key and target, as both the Lambda handler and `warden up` use them. */
export function scheduledExportDeps(runtime: Runtime, log: ScheduledExportDeps['log'] = logJson): ScheduledExportDeps {
  const { config, client, logSigner, evidence } = runtime;
  const prefix = config.store.tablePrefix;
  const sources = evidenceSources(client, prefix, logSigner, evidence.readRecording);
  return {
    intervalMinutes: config.evidence.export.intervalMinutes,
    retentionDays: config.evidence.export.retentionDays,
    cursor: new ExportCursorStore(client, prefix),
    checkpoint: () => integrateAndSign({ client, reader: sources.reader, signer: logSigner, origin: config.ledger.origin, sink: evidence.checkpoints }),
    sources,
    target: evidence.bundles,
    log,
  };
}

export interface ScheduledExports {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/** `warden up`'s timer: a run every `intervalMs`; a run still going when the next is due is not doubled. */
export function startScheduledExports(deps: ScheduledExportDeps, intervalMs: number, events: { onExport: (exported: ExportedWindow) => void; onError: (error: unknown) => void }): ScheduledExports {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= runScheduledExport(deps, new Date())
      .then((exported) => exported.forEach(events.onExport), events.onError)
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

async function exportWindow(deps: ScheduledExportDeps, window: CursorWindow, now: Date): Promise<ExportedWindow> {
  // The cursor's windows exclude their end; a bundle's window includes both (at millisecond
  // precision, as entries are stamped), so adjacent bundles share no instant.
  const included = { from: new Date(window.from), to: new Date(Date.parse(window.to) - 1) };
  const progress = (line: string) => deps.log({ level: line.startsWith('warning') ? 'warn' : 'info', event: 'export-progress', message: line });
  const built = await buildBundle(deps.sources, included, progress, now);
  const body = await packBundle(built.files, new Date(built.manifest.createdAt));
  const named = { from: built.manifest.from, to: built.manifest.to };
  const summary = { from: named.from, to: named.to, entries: built.manifest.entries.count, verified: built.verification.ok };
  if (!summary.verified) deps.log({ level: 'warn', event: 'export-unverified', ...named, failed: built.verification.checks.filter((check) => !check.ok) });
  try {
    const stored = await deps.target.put(named, body, new Date(now.getTime() + deps.retentionDays * DAY_MS));
    return { ...stored, ...summary, written: true };
  } catch (error) {
    // A runner before this one wrote the claimed window and stopped before recording it.
    if (error instanceof BundleTargetError && error.reason === 'exists') return { ...deps.target.locate(named), ...summary, written: false };
    throw error;
  }
}

function logJson(event: ExportEvent): void {
  console.error(JSON.stringify({ component: 'evidence-export', ...event }));
}
