/** POST /v1/sessions/{id}/end — the proxy closes a session; the chain ends with session.end. */
import { sessionEndRequestSchema } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';
import { recordSessionEnd } from './lib/session-end.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const request = parseJsonBody(event, sessionEndRequestSchema);
    const id = event.pathParameters?.id ?? '';
    const session = await runtime.sessions.get(id);
    if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${id}`);
    if (session.endedAt) return json(200, { sessionId: id, endedAt: session.endedAt });
    return json(200, { sessionId: id, endedAt: await recordSessionEnd(runtime, session, request.reason) });
  });
