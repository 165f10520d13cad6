/**
 * The console's client for the control plane's JSON API: every call carries the signed-in
 * person's Warden token, and every refusal becomes an ApiError with the API's own message.
 */
import type { ConsoleAccess, LedgerStatus, SessionDetail, SessionList } from '../core/console-api.js';
import { apiBase, getToken } from './auth.js';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Raised instead of the API's answer when the token is missing, expired or refused: sign in again. */
export const SIGNED_OUT_EVENT = 'warden:signed-out';

async function call(path: string, init: { method?: 'GET' | 'POST'; body?: unknown; accept?: string } = {}): Promise<Response> {
  const token = getToken();
  const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}`, {
      method: init.method ?? 'GET',
      headers,
      credentials: 'omit',
      cache: 'no-store',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `the control plane cannot be reached: ${(error as Error).message}`);
  }
  if (response.ok) return response;
  let code = `HTTP_${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown; error_description?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string') message = body.message;
    else if (typeof body.error_description === 'string') message = body.error_description;
  } catch {
    // not JSON: keep the status line
  }
  const error = new ApiError(response.status, code, message);
  if (response.status === 401) window.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT, { detail: message }));
  throw error;
}

async function json<T>(path: string, init?: Parameters<typeof call>[1]): Promise<T> {
  return (await (await call(path, init)).json()) as T;
}

const segment = encodeURIComponent;

export interface ApprovalView {
  id: string;
  status: string;
  summary: string;
  requester: { sub: string; actors: string[]; chain: string };
  connection: string;
  subject: { kind: 'command'; sessionId: string; text: string } | { kind: 'grant'; grantId: string; role: string; seconds: number };
  reason: string;
  policies: string[];
  requirements: { groups: string[]; quorum: number; policy?: string }[];
  justification: string | null;
  createdAt: string;
  expiresAt: string;
  decisions: { approver: string; decision: string; reason: string; at: string; via: string }[];
}

export interface GrantView {
  id: string;
  status: string;
  holder: string;
  chain: string | null;
  connection: string;
  role: string;
  seconds: number;
  justification: string;
  requestedAt: string;
  activatedAt: string | null;
  expiresAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  approval: { id: string; url: string } | null;
}

export interface ConsoleConfig {
  oidc?: { issuer: string; clientId: string; scope: string };
}

export const api = {
  config: () => json<ConsoleConfig>('/v1/console/config'),
  whoami: () => json<ConsoleAccess>('/v1/console/whoami'),
  sessions: (query: URLSearchParams) => json<SessionList>(`/v1/sessions${query.size > 0 ? `?${query}` : ''}`),
  session: (id: string) => json<SessionDetail>(`/v1/sessions/${segment(id)}`),
  recording: async (id: string, commandId: number) => (await call(`/v1/sessions/${segment(id)}/recordings/${commandId}`, { accept: 'application/x-asciicast, text/plain' })).text(),
  ledger: () => json<LedgerStatus>('/v1/ledger/status'),
  approvals: () => json<{ approvals: ApprovalView[] }>('/v1/approvals'),
  approval: (id: string) => json<ApprovalView>(`/v1/approvals/${segment(id)}`),
  decide: (id: string, decision: 'approve' | 'deny', reason: string) =>
    json<{ id: string; status: string; summary: string }>(`/v1/approvals/${segment(id)}/${decision}`, { method: 'POST', body: { reason } }),
  grants: () => json<{ grants: GrantView[] }>('/v1/grants'),
};
