/**
 * Ends the sessions no proxy will end. A proxy ends a session when its client leaves, and
 * within seconds of its token expiring (POST /v1/sessions/status). A proxy that was killed
 * (kill -9, a lost task) ends none of its sessions, which would otherwise stay open in the
 * ledger for good. Once a session's token has been expired for ORPHAN_GRACE_MS, no proxy can
 * still be serving it, so the control plane writes its `session.end`, saying why.
 */
import type { Runtime } from './runtime.js';
import { recordSessionEnd } from './session-end.js';

export const ORPHAN_GRACE_MS = 5 * 60_000;

/** Ends every orphaned session; returns their ids. */
export async function endOrphanedSessions(runtime: Runtime): Promise<string[]> {
  const cutoff = runtime.now() - ORPHAN_GRACE_MS;
  const ended: string[] = [];
  for await (const session of runtime.sessions.openSessions()) {
    if (Date.parse(session.expiresAt) > cutoff) continue;
    await recordSessionEnd(runtime, session, `no proxy ended the session: its token expired at ${session.expiresAt} and the proxy serving it had stopped; ended by the control plane`);
    ended.push(session.id);
  }
  return ended;
}
