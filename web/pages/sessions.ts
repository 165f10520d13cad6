/** Sessions, newest first, filtered by identity, chain, connection and start time (GET /v1/sessions). */
import type { SessionSummary } from '../../core/console-api.js';
import { api } from '../api.js';
import { chainText, fill, h, notice, table, time, visible } from '../dom.js';
import type { PageContext } from '../main.js';

const FILTERS = [
  ['identity', 'Identity', 'a person or agent (sub)'],
  ['chain', 'Chain', 'the chain id'],
  ['connection', 'Connection', 'e.g. app'],
] as const;

/** datetime-local values are local times without a zone; the API wants ISO 8601 with one. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export async function renderSessions(container: HTMLElement, context: PageContext): Promise<void> {
  const { query } = context;
  const inputs = FILTERS.map(([name, label, placeholder]) => {
    const input = h('input', { id: `filter-${name}`, name, type: 'text', placeholder, value: query.get(name) ?? '', 'data-testid': `filter-${name}` });
    return [name, h('label', { for: `filter-${name}` }, label, input), input] as const;
  });
  const from = h('input', { id: 'filter-from', name: 'from', type: 'datetime-local', value: toLocalInput(query.get('from')), 'data-testid': 'filter-from' });
  const to = h('input', { id: 'filter-to', name: 'to', type: 'datetime-local', value: toLocalInput(query.get('to')), 'data-testid': 'filter-to' });
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'data-testid': 'session-filters' },
    inputs.map(([, label]) => label),
    h('label', { for: 'filter-from' }, 'Started from', from),
    h('label', { for: 'filter-to' }, 'to', to),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    h('button', { type: 'button', class: 'link', onclick: () => context.navigate('#/sessions') }, 'Clear'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, , input] of inputs) if (input.value.trim()) next.set(name, input.value.trim());
    const fromIso = toIso(from.value);
    const toIsoValue = toIso(to.value);
    if (fromIso) next.set('from', fromIso);
    if (toIsoValue) next.set('to', toIsoValue);
    context.navigate(`#/sessions${next.size > 0 ? `?${next}` : ''}`);
  });

  const apiQuery = new URLSearchParams();
  for (const name of ['identity', 'chain', 'connection', 'from', 'to', 'limit']) {
    const value = query.get(name);
    if (value) apiQuery.set(name, value);
  }
  // The filters render first, so a refusal still leaves the page usable.
  fill(container, h('h1', {}, 'Sessions'), form, h('p', { class: 'loading' }, 'Loading…'));
  const list = await api.sessions(apiQuery);
  const rows = list.sessions.map((session) => row(session));
  fill(container, 
    h('h1', {}, 'Sessions'),
    form,
    list.truncated ? notice('More sessions match than are shown: narrow the filters.') : undefined,
    list.sessions.length === 0
      ? notice('No session matches.')
      : table(['Started', 'Identity', 'Connection', 'Protocol', 'Commands', 'Denied', 'Held', 'Masked', 'Ended'], rows, { class: 'sessions', 'data-testid': 'sessions-table' }),
  );
}

function row(session: SessionSummary) {
  return [
    h('a', { href: `#/sessions/${encodeURIComponent(session.id)}`, 'data-testid': 'session-link', 'data-session': session.id }, session.startedAt ? time(session.startedAt) : session.id),
    h('span', { title: `chain ${session.identity.chain}` }, visible(chainText(session.identity))),
    visible(session.connection),
    [session.protocol ?? '', session.recorded ? h('span', { class: 'badge recorded', title: 'has a recording' }, 'recorded') : undefined],
    session.commands,
    session.denied > 0 ? h('span', { class: 'badge decision-deny' }, String(session.denied)) : '0',
    session.held,
    session.masked,
    session.endedAt ? [time(session.endedAt), session.endReason ? h('span', { class: 'muted' }, ` (${visible(session.endReason)})`) : undefined] : h('span', { class: 'badge open' }, 'open'),
  ];
}
