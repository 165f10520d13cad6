/** POST /v1/sessions/{id}/end — the proxy closes a session; the chain ends with session.end. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { sessionEndRequestSchema } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { apiErrors, json, parseJsonBody, requireProxyKey } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(apiErrors())
  .use(requireProxyKey())
  .handler(async (event) => {
    const { store, now } = getRuntime();
    const request = parseJsonBody(event, sessionEndRequestSchema);
    const id = event.pathParameters?.id ?? '';
    const session = await store.getSession(id);
    if (!session) throw new WardenError('UNKNOWN_SESSION', `no session ${id}`);
    if (session.endedAt) return json(200, { sessionId: id, endedAt: session.endedAt });
    const endedAt = new Date(now()).toISOString();
    await store.append(id, [{ type: 'session.end', time: endedAt, identity: session.identity, connection: session.connection, data: { reason: request.reason } }]);
    await store.endSession(session, endedAt);
    return json(200, { sessionId: id, endedAt });
  });
