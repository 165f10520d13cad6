/** POST /v1/grants — ask for a just-in-time grant; policy starts it, holds it for approval, or refuses it. */
import { grantRequestSchema } from '../core/contract.js';
import { callerOf } from './lib/callers.js';
import { grantView } from './lib/grant-view.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const caller = await callerOf(event, runtime);
    const request = parseJsonBody(event, grantRequestSchema);
    const grant = await runtime.grants.request(caller, request);
    return json(grant.status === 'denied' ? 403 : 201, grantView(runtime, grant));
  });
