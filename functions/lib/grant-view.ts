/** A grant as the API shows it. */
import type { GrantRecord } from './grant-store.js';
import type { Runtime } from './runtime.js';

export function grantView(runtime: Pick<Runtime, 'approvals'>, grant: GrantRecord) {
  return {
    id: grant.id,
    status: grant.status,
    holder: grant.holder,
    chain: grant.chain ?? null,
    connection: grant.connection,
    role: grant.role,
    seconds: grant.seconds,
    justification: grant.justification,
    requestedAt: grant.requestedAt,
    activatedAt: grant.activatedAt ?? null,
    expiresAt: grant.expiresAt ?? null,
    endedAt: grant.endedAt ?? null,
    endReason: grant.endReason ?? null,
    approval: grant.approval ? { id: grant.approval, url: runtime.approvals.urlOf(grant.approval) } : null,
  };
}
export type GrantView = ReturnType<typeof grantView>;
