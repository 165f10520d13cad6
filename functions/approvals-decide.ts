/** POST /v1/approvals/{id}/approve and /v1/approvals/{id}/deny — an approver decides, with a reason. */
import { approvalDecisionRequestSchema } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { summarize } from './lib/approvals.js';
import { callerOf } from './lib/callers.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const decision = event.pathParameters?.decision;
    if (decision !== 'approve' && decision !== 'deny') throw new WardenError('INVALID_REQUEST', 'the decision is approve or deny: POST /v1/approvals/ID/approve or /v1/approvals/ID/deny');
    const caller = await callerOf(event, runtime);
    const { reason } = parseJsonBody(event, approvalDecisionRequestSchema);
    const via = event.headers['x-warden-client'] === 'cli' ? 'cli' : 'api';
    const record = await runtime.approvals.decide(event.pathParameters?.id ?? '', caller, decision, reason, via);
    return json(200, { id: record.id, status: record.status, summary: summarize(record) });
  });
