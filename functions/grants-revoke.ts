/** POST /v1/grants/{id}/revoke — the holder gives a grant up, or an approver takes it away; its sessions end. */
import { grantRevokeSchema } from '../core/contract.js';
import { callerOf } from './lib/callers.js';
import { grantView } from './lib/grant-view.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const caller = await callerOf(event, runtime);
    const { reason } = parseJsonBody(event, grantRevokeSchema);
    return json(200, grantView(runtime, await runtime.grants.revoke(event.pathParameters?.id ?? '', caller, reason)));
  });
