/** One session: who, where, when; its commands with their decisions, results and masking counts; replay. */
import type { CommandView, SessionDetail } from '../../core/console-api.js';
import { api } from '../api.js';
import { chainText, code, decisionBadge, errorBox, facts, fill, h, notice, table, time, visible, type Child } from '../dom.js';
import type { PageContext } from '../main.js';
import { playRecording, timelineReplay } from './replay.js';

export async function renderSession(container: HTMLElement, _context: PageContext, id: string): Promise<void> {
  const detail = await api.session(id);
  const { session } = detail;
  const start = Date.parse(session.startedAt ?? detail.commands[0]?.time ?? '') || 0;
  const steps: { element: HTMLElement; at: number }[] = [];
  const items = detail.commands.map((command) => {
    const element = commandItem(session.id, command, start);
    steps.push({ element, at: Date.parse(command.time) || 0 });
    return element;
  });
  const isSql = session.protocol === 'postgres' || detail.commands.some((command) => command.kind.startsWith('sql.'));
  fill(container, 
    h('p', {}, h('a', { href: '#/sessions' }, '← Sessions')),
    h('h1', {}, 'Session ', h('code', {}, session.id)),
    facts(
      [
        ['Identity', visible(chainText(session.identity))],
        ['Chain', h('code', {}, session.identity.chain)],
        ['Groups', session.identity.groups.join(', ') || 'none'],
        ['Connection', visible(session.connection)],
        ['Protocol', session.protocol],
        ['Started', time(session.startedAt)],
        ['Ended', session.endedAt ? time(session.endedAt) : 'still open'],
        ['End reason', session.endReason ? visible(session.endReason) : undefined],
        ['Justification', session.justification ? visible(session.justification) : undefined],
        ['Commands', `${session.commands} (${session.denied} denied, ${session.held} held for approval)`],
        ['Values masked', String(session.masked)],
      ],
      { 'data-testid': 'session-facts' },
    ),
    maskedTable(detail),
    h(
      'section',
      { class: 'timeline', 'data-testid': isSql ? 'sql-timeline' : 'command-timeline' },
      h('h2', {}, isSql ? 'Statement timeline' : 'Commands'),
      items.length > 0 ? timelineReplay(steps) : undefined,
      items.length > 0 ? h('ol', { class: 'steps' }, items) : notice('No command was recorded in this session.'),
    ),
  );
}

function maskedTable(detail: SessionDetail): HTMLElement | undefined {
  const rules = Object.entries(detail.masked).filter(([, count]) => count > 0);
  if (rules.length === 0) return undefined;
  return h('section', {}, h('h2', {}, 'Masked values by rule'), table(['Rule', 'Values masked'], rules.map(([rule, count]) => [visible(rule), count]), { 'data-testid': 'masked-counts' }));
}

function offset(at: string, start: number): string {
  const ms = Date.parse(at) - start;
  if (!Number.isFinite(ms) || start === 0) return '';
  return `+${(ms / 1000).toFixed(3)} s`;
}

function commandItem(sessionId: string, command: CommandView, start: number): HTMLElement {
  const item = h('li', { class: 'step', 'data-testid': 'command', 'data-kind': command.kind });
  const statements = command.statements.map((statement) =>
    h(
      'div',
      { class: 'statement', 'data-testid': 'statement' },
      h('div', { class: 'statement-head' }, decisionBadge(statement.decision), ' ', code(statement.text, { 'data-testid': 'statement-text' })),
      facts([
        ['Reason', statement.reason ? visible(statement.reason) : undefined],
        ['Policies', statement.policies.length > 0 ? statement.policies.map(visible).join(', ') : undefined],
        ['Policy version', statement.policyVersion],
        ['Ledger entry', h('code', { title: `index ${statement.index}` }, statement.entryId)],
        ['Facts', Object.keys(statement.facts).length > 0 ? h('code', { class: 'facts-json' }, visible(JSON.stringify(statement.facts))) : undefined],
      ]),
    ),
  );
  item.append(
    h('div', { class: 'step-head' }, h('span', { class: 'offset' }, offset(command.time, start)), ' ', h('span', { class: 'kind' }, command.kind), ' ', time(command.time)),
    ...statements,
  );
  const { result } = command;
  if (result) {
    const masked = Object.entries(result.masked).filter(([, count]) => count > 0);
    item.append(
      h(
        'div',
        { class: 'result', 'data-testid': 'result' },
        facts([
          ['Rows', result.rows],
          ['Error', result.error ? visible(result.error) : undefined],
          ['Exit status', result.exitStatus],
          ['Exit signal', result.exitSignal],
          ['Bytes out', result.bytesOut],
          ['Bytes in', result.bytesIn],
          ['HTTP status', result.httpStatus],
          ['Duration', result.durationMs === undefined ? undefined : `${result.durationMs} ms`],
          ['Masked', masked.length > 0 ? masked.map(([rule, count]) => `${visible(rule)}: ${count}`).join(', ') : undefined],
          ['Recording', result.recording ? `${result.recording.bytes} bytes, SHA-256 ${result.recording.sha256}` : undefined],
        ]),
      ),
    );
    if (result.recording) item.append(recordingPlayer(sessionId, command.commandId));
  }
  return item;
}

function recordingPlayer(sessionId: string, commandId: number): HTMLElement {
  const stage = h('div', { class: 'player', 'data-testid': 'player' });
  const problems = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'replay' }, 'Replay the recording');
  button.addEventListener('click', () => {
    button.disabled = true;
    problems.replaceChildren();
    api
      .recording(sessionId, commandId)
      .then((cast) => {
        playRecording(stage, cast);
        button.textContent = 'Replay again';
      })
      .catch((error: unknown) => problems.replaceChildren(errorBox(`The recording cannot be shown: ${(error as Error).message}`)))
      .finally(() => (button.disabled = false));
  });
  const children: Child[] = [button, problems, stage];
  return h('div', { class: 'recording' }, children);
}
