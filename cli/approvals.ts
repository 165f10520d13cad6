/**
 * `warden approvals`, `warden approve ID`, `warden deny ID`: an approver's side of the
 * workflow, through the control plane's API with the approver's own Warden token.
 */
import { CliError, controlPlaneUrl } from './cli-support.js';
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

export function tokenFrom(option: string | undefined): string {
  const token = option ?? process.env.WARDEN_TOKEN;
  if (!token) throw new CliError('no Warden token: pass --token, or export WARDEN_TOKEN=$(warden login --device)', 2);
  return token;
}

export async function listApprovals(loaded: LoadedConfig, token: string): Promise<ApprovalView[]> {
  return ((await callApi(loaded, 'GET', '/v1/approvals', token)) as { approvals: ApprovalView[] }).approvals;
}

export async function decideApproval(loaded: LoadedConfig, token: string, id: string, decision: 'approve' | 'deny', reason: string): Promise<{ id: string; status: string; summary: string }> {
  return (await callApi(loaded, 'POST', `/v1/approvals/${encodeURIComponent(id)}/${decision}`, token, { reason })) as { id: string; status: string; summary: string };
}

/** One line per request, for people; `--json` gives scripts the whole view. */
export function describeApproval(view: ApprovalView): string {
  const who = [view.requester.sub, ...view.requester.actors].join(' ← ');
  const what = view.subject.kind === 'command' ? view.subject.text.replace(/\s+/g, ' ') : `grant of role ${view.subject.role} for ${Math.round(view.subject.seconds / 60)} min`;
  return `${view.id}  ${who} on ${view.connection}: ${what}\n  why: ${view.reason}; justification: ${view.justification ?? 'none given'}; expires ${view.expiresAt}\n  ${view.summary}`;
}

async function callApi(loaded: LoadedConfig, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<unknown> {
  const url = await controlPlaneUrl(loaded);
  let response: Response;
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'x-warden-client': 'cli', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new CliError(`cannot reach the Warden control plane at ${url}; start it with: npx warden up`, 3);
  }
  const payload = (await response.json().catch(() => ({}))) as { message?: string };
  if (!response.ok) throw new CliError(payload.message ?? `the control plane answered HTTP ${response.status}`, response.status >= 500 ? 3 : 1);
  return payload;
}
