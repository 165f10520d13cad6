/**
 * The EventBridge schedule's handler that ends the sessions a stopped proxy left open
 * (functions/lib/orphaned-sessions.ts), as `warden up` does on a timer.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { controlPlaneHandler } from '../../functions/lib/observability.js';
import { endOrphanedSessions } from '../../functions/lib/orphaned-sessions.js';
import { getRuntime } from '../../functions/lib/runtime.js';

export const handler = controlPlaneHandler<ScheduledEvent, string[]>(() => 'end orphaned sessions').handler(() => endOrphanedSessions(getRuntime()));
