/**
 * GET /v1/approvals — the pending requests the caller may decide or has made;
 * GET /v1/approvals/{id} — one request, for the requester or an approver.
 * The command text is the masked text recorded in the ledger, never the raw statement.
 */
import { WardenError } from '../core/errors.js';
import type { IdentityChain } from '../core/ledger/entry.js';
import type { ApprovalRecord } from './lib/approval-store.js';
import { summarize } from './lib/approvals.js';
import { callerOf } from './lib/callers.js';
import { apiHandler, json } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const caller = await callerOf(event, runtime);
    const id = event.pathParameters?.id;
    if (id === undefined) {
      const visible = (await runtime.approvals.pending()).filter((record) => record.status === 'pending' && concerns(record, caller));
      return json(200, { approvals: visible.map(view) });
    }
    const record = await runtime.approvals.get(id);
    // Someone it does not concern learns nothing, not even that it exists.
    if (!concerns(record, caller)) throw new WardenError('UNKNOWN_APPROVAL', `no approval request ${id} that you may see`);
    return json(200, view(record));
  });

function concerns(record: ApprovalRecord, caller: IdentityChain): boolean {
  const inChain = [record.requester.sub, ...record.requester.act.map((a) => a.sub)].includes(caller.sub);
  const approver = record.requirements.some((requirement) => requirement.groups.some((group) => caller.groups.includes(group)));
  return inChain || approver;
}

function view(record: ApprovalRecord) {
  const { subject } = record;
  return {
    id: record.id,
    status: record.status,
    summary: summarize(record),
    requester: { sub: record.requester.sub, actors: record.requester.act.map((a) => a.sub), chain: record.requester.chain },
    connection: record.connection,
    subject: subject.kind === 'command' ? { kind: 'command', sessionId: subject.sessionId, text: subject.text } : { kind: 'grant', grantId: subject.grantId, role: subject.role, seconds: subject.seconds },
    reason: record.policyReason,
    policies: record.policies,
    requirements: record.requirements,
    justification: record.justification ?? null,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    decisions: record.decisions.map(({ approver, decision, reason, at, via }) => ({ approver, decision, reason, at, via })),
  };
}
