/**
 * The EventBridge schedule's handler: exports the evidence bundle of every window not exported
 * yet (functions/lib/evidence/scheduled-export.ts), as `warden up`'s timer does locally.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { runScheduledExport, scheduledExportDeps, type ExportedWindow } from './lib/evidence/scheduled-export.js';
import { controlPlaneHandler } from './lib/observability.js';
import { getRuntime } from './lib/runtime.js';

export const handler = controlPlaneHandler<ScheduledEvent, ExportedWindow[]>(() => 'scheduled evidence export').handler(async (event) => {
  // The event's scheduled time, not the clock: a retried invocation exports up to the same instant.
  const scheduled = Date.parse(event.time);
  return runScheduledExport(scheduledExportDeps(getRuntime()), Number.isNaN(scheduled) ? new Date() : new Date(scheduled));
});
