/** POST /v1/approvals/status — the proxy asks where the approvals of its held commands stand. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { approvalStatusRequestSchema, type ApprovalStatusResponse } from '../core/contract.js';
import { apiErrors, json, parseJsonBody, requireProxyKey } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(apiErrors())
  .use(requireProxyKey())
  .handler(async (event) => {
    const { ids } = parseJsonBody(event, approvalStatusRequestSchema);
    const response: ApprovalStatusResponse = { approvals: await getRuntime().approvals.statuses(ids) };
    return json(200, response);
  });
