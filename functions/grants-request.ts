/** POST /v1/grants — ask for a just-in-time grant; policy starts it, holds it for approval, or refuses it. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { grantRequestSchema } from '../core/contract.js';
import { callerOf } from './lib/callers.js';
import { grantView } from './lib/grant-view.js';
import { apiErrors, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(apiErrors())
  .handler(async (event) => {
    const runtime = getRuntime();
    const caller = await callerOf(event, runtime);
    const request = parseJsonBody(event, grantRequestSchema);
    const grant = await runtime.grants.request(caller, request);
    return json(grant.status === 'denied' ? 403 : 201, grantView(runtime, grant));
  });
