/** GET /v1/console/whoami — what the signed-in caller may do in the console (config `console`). */
import { callerOf } from './lib/callers.js';
import { consoleAccess } from './lib/console-access.js';
import { apiHandler, json } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    return json(200, consoleAccess(runtime, await callerOf(event, runtime)));
  });
