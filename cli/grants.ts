/** `warden grant request | list | revoke`: just-in-time grants, through the control plane's API. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GrantView } from '../functions/lib/grant-view.js';
import { callUserApi } from './api-client.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';

const POLL_MS = 2000;

/** "30m", "2h", "1h30m", "90s", "1d" → seconds. */
export function parseDuration(text: string): number {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  const [days, hours, minutes, seconds] = (match?.slice(1) ?? []).map((part) => Number(part ?? 0));
  const total = (days ?? 0) * 86_400 + (hours ?? 0) * 3600 + (minutes ?? 0) * 60 + (seconds ?? 0);
  if (!match || total === 0) throw new CliError(`"${text}" is not a duration; write it like 30m, 2h, 1h30m or 90s`, 2);
  return total;
}

export interface GrantRequestOptions {
  readonly connection: string;
  readonly role: string;
  readonly seconds: number;
  readonly why: string;
  /** Wait for the approval, if policy asks for one; progress goes to `progress`. */
  readonly wait?: (message: string) => void;
}

export async function requestGrant(loaded: LoadedConfig, token: string, options: GrantRequestOptions): Promise<GrantView> {
  let grant = (await callUserApi(loaded, 'POST', '/v1/grants', token, { connection: options.connection, role: options.role, seconds: options.seconds, justification: options.why })) as GrantView;
  if (grant.status !== 'pending' || !options.wait) return grant;
  options.wait(`waiting for approval ${grant.approval?.id} (${grant.approval?.url}); an approver runs: warden approve ${grant.approval?.id} --reason "…"`);
  while (grant.status === 'pending') {
    await sleep(POLL_MS);
    grant = (await callUserApi(loaded, 'GET', `/v1/grants/${encodeURIComponent(grant.id)}`, token)) as GrantView;
  }
  return grant;
}

export async function listGrants(loaded: LoadedConfig, token: string): Promise<GrantView[]> {
  return ((await callUserApi(loaded, 'GET', '/v1/grants', token)) as { grants: GrantView[] }).grants;
}

export async function revokeGrant(loaded: LoadedConfig, token: string, id: string, reason: string): Promise<GrantView> {
  return (await callUserApi(loaded, 'POST', `/v1/grants/${encodeURIComponent(id)}/revoke`, token, { reason })) as GrantView;
}

export function describeGrant(grant: GrantView): string {
  const when =
    grant.status === 'active'
      ? `until ${grant.expiresAt}`
      : grant.status === 'pending'
        ? `waiting for approval ${grant.approval?.id}`
        : `${grant.endReason ?? ''}`;
  return `${grant.id}  ${grant.status}: role ${grant.role} on ${grant.connection} for ${Math.round(grant.seconds / 60)} min, ${when}`;
}
