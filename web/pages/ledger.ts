/** The ledger's status: tree size, root hash, the latest signed checkpoint, and the control plane's verification. */
import { api } from '../api.js';
import { facts, fill, h, time } from '../dom.js';
import type { PageContext } from '../main.js';

export async function renderLedger(container: HTMLElement, context: PageContext): Promise<void> {
  const status = await api.ledger();
  const { verification, checkpoint } = status;
  fill(container, 
    h('h1', {}, 'Ledger'),
    h(
      'p',
      { class: `verdict ${verification.ok ? 'ok' : 'failed'}`, role: 'status', 'data-testid': 'ledger-verdict' },
      verification.ok ? 'Verified' : 'Verification FAILED',
      ' at ',
      time(verification.checkedAt),
      ' ',
      h('button', { type: 'button', class: 'link', onclick: () => context.navigate('#/ledger') }, 'Verify again'),
    ),
    facts(
      [
        ['Tree size', h('span', { 'data-testid': 'tree-size' }, String(status.treeSize))],
        ['Root hash', h('code', {}, status.rootHash)],
        ['Verifier key', h('code', { 'data-testid': 'verifier-key' }, status.verifierKey)],
      ],
      { 'data-testid': 'ledger-facts' },
    ),
    h('h2', {}, 'Checks'),
    h(
      'ul',
      { class: 'checks', 'data-testid': 'ledger-checks' },
      verification.checks.map((check) => h('li', { class: check.ok ? 'ok' : 'failed' }, h('strong', {}, `${check.ok ? '✓' : '✗'} ${check.name}`), ': ', check.detail)),
    ),
    h('h2', {}, 'Latest checkpoint'),
    checkpoint
      ? [
          facts([
            ['Origin', checkpoint.origin],
            ['Size', h('span', { 'data-testid': 'checkpoint-size' }, String(checkpoint.size))],
            ['Root hash', h('code', {}, checkpoint.rootHash)],
          ]),
          h('p', {}, 'The signed note, as ', h('code', {}, 'warden verify --checkpoint FILE --key VKEY'), ' reads it:'),
          h('pre', { class: 'note', 'data-testid': 'checkpoint-note' }, checkpoint.note),
        ]
      : h('p', { class: 'notice' }, 'No checkpoint is signed yet.'),
  );
}
