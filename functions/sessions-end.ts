/** POST /v1/sessions/{id}/end — the proxy closes a session; the chain ends with session.end. */
import { sessionEndRequestSchema } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime, keyedDigest } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const { sessions, ledger, now } = runtime;
    const request = parseJsonBody(event, sessionEndRequestSchema);
    const id = event.pathParameters?.id ?? '';
    const session = await sessions.get(id);
    if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${id}`);
    if (session.endedAt) return json(200, { sessionId: id, endedAt: session.endedAt });
    const endedAt = new Date(now()).toISOString();
    await ledger.append([
      { session: id, type: 'session.end', time: endedAt, identity: session.identity, connection: session.connection, digest: keyedDigest(runtime, request.reason), data: { reason: request.reason } },
    ]);
    await sessions.end(session, endedAt);
    return json(200, { sessionId: id, endedAt });
  });
