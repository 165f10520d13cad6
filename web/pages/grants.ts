/** Grants: the signed-in person's just-in-time grants (GET /v1/grants), newest first. */
import { api } from '../api.js';
import { fill, h, notice, table, time, visible } from '../dom.js';
import type { PageContext } from '../main.js';

export async function renderGrants(container: HTMLElement, _context: PageContext): Promise<void> {
  const { grants } = await api.grants();
  fill(container, 
    h('h1', {}, 'Your grants'),
    h('p', { class: 'muted' }, 'Ask for one with ', h('code', {}, 'warden grant request --connection C --role R --for 30m --why "…"'), '.'),
    grants.length === 0
      ? notice('You hold no grant.')
      : table(
          ['Grant', 'Status', 'Connection', 'Role', 'For', 'Justification', 'Requested', 'Active from', 'Expires', 'Ended', 'Approval'],
          grants.map((grant) => [
            h('code', {}, grant.id),
            h('span', { class: `badge status-${/^[a-z]+$/.test(grant.status) ? grant.status : 'other'}` }, grant.status),
            visible(grant.connection),
            visible(grant.role),
            `${grant.seconds} s`,
            visible(grant.justification),
            time(grant.requestedAt),
            time(grant.activatedAt),
            time(grant.expiresAt),
            grant.endedAt ? [time(grant.endedAt), grant.endReason ? ` (${visible(grant.endReason)})` : ''] : '',
            grant.approval ? h('a', { href: `#/approvals/${encodeURIComponent(grant.approval.id)}` }, grant.approval.id) : '',
          ]),
          { 'data-testid': 'grants-table' },
        ),
  );
}
