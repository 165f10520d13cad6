/** POST /v1/approvals/status — the proxy asks where the approvals of its held commands stand. */
import { approvalStatusRequestSchema, type ApprovalStatusResponse } from '../core/contract.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const { ids } = parseJsonBody(event, approvalStatusRequestSchema);
    const response: ApprovalStatusResponse = { approvals: await getRuntime().approvals.statuses(ids) };
    return json(200, response);
  });
