/**
 * Approvals: the pending requests the signed-in person may decide (or made), each with the
 * masked command, the requester's chain, the justification, and Approve and Deny, which ask
 * for a reason. The API decides who may decide; its refusal is shown as it gives it.
 */
import { api, ApiError, type ApprovalView } from '../api.js';
import { chainText, code, errorBox, facts, fill, h, notice, time, visible } from '../dom.js';
import type { PageContext } from '../main.js';

export async function renderApprovals(container: HTMLElement, context: PageContext, id?: string): Promise<void> {
  const approvals = id === undefined ? (await api.approvals()).approvals : [await api.approval(id)];
  const heading = id === undefined ? 'Pending approvals' : 'Approval request';
  const refresh = () => context.navigate(id === undefined ? '#/approvals' : `#/approvals/${encodeURIComponent(id)}`);
  fill(container, 
    id === undefined ? undefined : h('p', {}, h('a', { href: '#/approvals' }, '← Pending approvals')),
    h('h1', {}, heading),
    context.access.approve ? undefined : notice('You may read requests that concern you, but not decide them: you are in no approver group of the console.'),
    h('button', { type: 'button', class: 'link', onclick: refresh }, 'Refresh'),
    approvals.length === 0 ? notice('Nothing is waiting for a decision.') : h('div', { class: 'approvals' }, approvals.map((approval) => card(approval, context, refresh))),
  );
}

function card(approval: ApprovalView, context: PageContext, refresh: () => void): HTMLElement {
  const { subject } = approval;
  const outcome = h('div', { 'aria-live': 'polite', 'data-testid': 'approval-outcome' });
  const article = h(
    'article',
    { class: 'card approval', 'data-testid': 'approval', 'data-approval': approval.id },
    h('h2', {}, h('a', { href: `#/approvals/${encodeURIComponent(approval.id)}` }, h('code', {}, approval.id)), ' ', h('span', { class: `badge status-${approval.status}` }, approval.status)),
    subject.kind === 'command' ? code(subject.text, { 'data-testid': 'approval-command' }) : h('p', {}, `Grant of role ${visible(subject.role)} for ${subject.seconds} s`),
    facts([
      ['Requested by', h('span', { 'data-testid': 'approval-requester' }, visible(chainText(approval.requester)))],
      ['Chain', h('code', {}, approval.requester.chain)],
      ['Connection', visible(approval.connection)],
      ['Justification', h('span', { 'data-testid': 'approval-justification' }, approval.justification ? visible(approval.justification) : '(none given)')],
      ['Why it is held', visible(approval.reason)],
      ['Policies', approval.policies.map(visible).join(', ')],
      ['Needs', approval.requirements.map((r) => `${r.quorum} from ${r.groups.join('/')}`).join(' and ')],
      ['Session', subject.kind === 'command' && context.access.read ? h('a', { href: `#/sessions/${encodeURIComponent(subject.sessionId)}` }, subject.sessionId) : undefined],
      ['Requested', time(approval.createdAt)],
      ['Expires', time(approval.expiresAt)],
      ['Status', visible(approval.summary)],
      [
        'Decisions',
        approval.decisions.length > 0
          ? h('ul', {}, approval.decisions.map((d) => h('li', {}, `${visible(d.approver)} ${d.decision === 'approve' ? 'approved' : 'denied'} via ${d.via}: “${visible(d.reason)}” `, time(d.at))))
          : undefined,
      ],
    ]),
    outcome,
  );
  if (approval.status === 'pending' && context.access.approve) article.append(decisionControls(approval, outcome, refresh));
  return article;
}

function decisionControls(approval: ApprovalView, outcome: HTMLElement, refresh: () => void): HTMLElement {
  const controls = h('div', { class: 'decide' });
  const buttons = (['approve', 'deny'] as const).map((decision) =>
    h('button', { type: 'button', class: decision === 'approve' ? 'primary' : 'danger', 'data-testid': decision, onclick: () => ask(decision) }, decision === 'approve' ? 'Approve' : 'Deny'),
  );
  const ask = (decision: 'approve' | 'deny') => {
    const reasonId = `reason-${approval.id}`;
    const reason = h('textarea', { id: reasonId, rows: 2, maxlength: 500, required: true, 'data-testid': 'reason' });
    const confirm = h('button', { type: 'submit', class: decision === 'approve' ? 'primary' : 'danger', 'data-testid': 'confirm' }, decision === 'approve' ? 'Confirm approval' : 'Confirm denial');
    const form = h(
      'form',
      { class: 'reason-form' },
      h('label', { for: reasonId }, decision === 'approve' ? 'Why do you approve? (recorded in the ledger)' : 'Why do you deny? (the requester sees it)'),
      reason,
      confirm,
      h('button', { type: 'button', class: 'link', onclick: () => controls.replaceChildren(...buttons) }, 'Cancel'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      if (!text) {
        outcome.replaceChildren(errorBox('Give a reason.'));
        return;
      }
      confirm.disabled = true;
      api
        .decide(approval.id, decision, text)
        .then((result) => {
          controls.replaceChildren(h('p', { class: 'success', role: 'status', 'data-testid': 'decided' }, `${result.status}: ${visible(result.summary)}`), h('button', { type: 'button', class: 'link', onclick: refresh }, 'Back to the list'));
          outcome.replaceChildren();
        })
        .catch((error: unknown) => {
          confirm.disabled = false;
          outcome.replaceChildren(errorBox(error instanceof ApiError ? `Warden refused: ${error.message}` : (error as Error).message));
        });
    });
    controls.replaceChildren(form);
    reason.focus();
  };
  controls.replaceChildren(...buttons);
  return controls;
}
