/** GET /v1/grants — the caller's grants; GET /v1/grants/{id} — one of them. */
import { WardenError } from '../core/errors.js';
import { callerOf } from './lib/callers.js';
import { grantView } from './lib/grant-view.js';
import { apiHandler, json } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const caller = await callerOf(event, runtime);
    const id = event.pathParameters?.id;
    if (id === undefined) {
      const grants = await runtime.grants.ofHolder(caller.sub);
      return json(200, { grants: grants.sort((a, b) => b.requestedAt.localeCompare(a.requestedAt)).map((grant) => grantView(runtime, grant)) });
    }
    const grant = await runtime.grants.get(id);
    if (grant.holder !== caller.sub) throw new WardenError('UNKNOWN_GRANT', `no grant ${id} of yours`);
    return json(200, grantView(runtime, grant));
  });
