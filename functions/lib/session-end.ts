/** Ending a session: its chain's last entry, then the sessions table, as one step for every caller. */
import type { Runtime } from './runtime.js';
import { keyedDigest } from './runtime.js';
import type { SessionRecord } from './session-store.js';

/** Appends the session's `session.end` entry (durable first), then marks it ended; returns when it ended. */
export async function recordSessionEnd(runtime: Runtime, session: SessionRecord, reason: string): Promise<string> {
  const endedAt = new Date(runtime.now()).toISOString();
  await runtime.ledger.append([
    { session: session.id, type: 'session.end', time: endedAt, identity: session.identity, connection: session.connection, digest: keyedDigest(runtime, reason), data: { reason } },
  ]);
  await runtime.sessions.end(session, endedAt);
  return endedAt;
}
