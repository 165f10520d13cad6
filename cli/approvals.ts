/**
 * `warden approvals`, `warden approve ID`, `warden deny ID`: an approver's side of the
 * workflow, through the control plane's API with the approver's own Warden token.
 */
import { callUserApi } from './api-client.js';
import type { LoadedConfig } from './config-file.js';

export interface ApprovalView {
  readonly id: string;
  readonly status: string;
  readonly summary: string;
  readonly requester: { readonly sub: string; readonly actors: readonly string[]; readonly chain: string };
  readonly connection: string;
  readonly subject: { readonly kind: 'command'; readonly text: string } | { readonly kind: 'grant'; readonly role: string; readonly seconds: number };
  readonly reason: string;
  readonly justification: string | null;
  readonly expiresAt: string;
}

export async function listApprovals(loaded: LoadedConfig, token: string): Promise<ApprovalView[]> {
  return ((await callUserApi(loaded, 'GET', '/v1/approvals', token)) as { approvals: ApprovalView[] }).approvals;
}

export async function decideApproval(loaded: LoadedConfig, token: string, id: string, decision: 'approve' | 'deny', reason: string): Promise<{ id: string; status: string; summary: string }> {
  return (await callUserApi(loaded, 'POST', `/v1/approvals/${encodeURIComponent(id)}/${decision}`, token, { reason })) as { id: string; status: string; summary: string };
}

/** One line per request, for people; `--json` gives scripts the whole view. */
export function describeApproval(view: ApprovalView): string {
  const who = [view.requester.sub, ...view.requester.actors].join(' ← ');
  const what = view.subject.kind === 'command' ? view.subject.text.replace(/\s+/g, ' ') : `grant of role ${view.subject.role} for ${Math.round(view.subject.seconds / 60)} min`;
  return `${view.id}  ${who} on ${view.connection}: ${what}\n  why: ${view.reason}; justification: ${view.justification ?? 'none given'}; expires ${view.expiresAt}\n  ${view.summary}`;
}
