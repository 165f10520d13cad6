/**
 * report.html of an evidence bundle: one page for an ISO/IEC 27001 auditor that opens from the
 * bundle offline (inline CSS, no scripts, fonts or images). The proof is the rest of the bundle;
 * this page is its reading aid. Command texts, reasons and names are attacker-controlled, so
 * every value from the data goes through escapeHtml, and a Content-Security-Policy forbids
 * scripts and loads should one ever slip through.
 */
import { BundlePaths, recordingPath, type Manifest } from '../../../core/evidence/bundle.js';
import type { BundleReport } from '../../../core/evidence/verify-bundle.js';
import type { LedgerEntry } from '../../../core/ledger/entry.js';
import type { ApprovalRecord } from '../approval-store.js';
import type { GrantRecord } from '../grant-store.js';
import { chainsOf, decisionOf, maskedCounts, maskingTotals, number, record, sessionsOf, text, texts, type ChainView, type CommandView, type SessionView } from '../session-views.js';

export interface ReportInput {
  /** Its `files` may not yet list report.html itself. */
  readonly manifest: Manifest;
  /** Parsed, in ledger index order. */
  readonly entries: readonly LedgerEntry[];
  /** The config.snapshot entry in force when the window opened, when it was recorded before it. */
  readonly configInForce?: LedgerEntry;
  readonly approvals: readonly ApprovalRecord[];
  readonly grants: readonly GrantRecord[];
  /** The check run at export time. */
  readonly verification: BundleReport;
}

const MAX_TEXT = 500;
const MAX_COMMANDS_PER_SESSION = 200;

interface Figures {
  readonly entries: number;
  readonly sessions: number;
  readonly chains: number;
  readonly sessionStarts: number;
  readonly revokedEnds: number;
  readonly commands: number;
  readonly policyVersions: number;
  readonly denied: number;
  readonly held: number;
  readonly approvals: number;
  readonly commandApprovals: number;
  readonly grants: number;
  readonly masked: number;
  readonly maskedResults: number;
  readonly snapshots: number;
}

interface ReportView {
  readonly input: ReportInput;
  readonly chains: readonly ChainView[];
  readonly masking: ReadonlyMap<string, number>;
  readonly snapshots: readonly LedgerEntry[];
  readonly figures: Figures;
}

export function renderReport(input: ReportInput): string {
  const view = reportView(input);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warden evidence report — ${escapeHtml(input.manifest.origin)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${header(input)}
${summary(view.figures)}
${sessionsSection(view.chains)}
${approvalsSection(input.approvals)}
${grantsSection(input.grants)}
${maskingSection(view.masking)}
${configSection(view.snapshots, input.configInForce)}
${controlsSection(view)}
</main>
</body>
</html>
`;
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

// ---- the view: entries grouped by chain, session and command ----

function reportView(input: ReportInput): ReportView {
  const sessions = sessionsOf(input.entries);
  const chains = chainsOf(sessions);
  const results = input.entries.filter((e) => e.type === 'command.result');
  const masking = maskingTotals(results);
  const snapshots = input.entries.filter((e) => e.type === 'config.snapshot');
  const commands = sessions.flatMap((s) => s.commands).filter((c) => c.statements.length > 0);
  const figures: Figures = {
    entries: input.entries.length,
    sessions: sessions.length,
    chains: chains.length,
    sessionStarts: sessions.filter((s) => s.start).length,
    // The ledger has no revocation flag on session.end: the proxy passes on the reason sessions-status gave it.
    revokedEnds: sessions.filter((s) => /revoked/i.test(text(s.end?.data.reason) ?? '')).length,
    commands: commands.length,
    policyVersions: unique(commands.flatMap((c) => c.statements.flatMap((s) => text(s.data.policyVersion) ?? []))).length,
    denied: commands.filter((c) => decisionOf(c) === 'deny').length,
    held: commands.filter((c) => decisionOf(c) === 'approval').length,
    approvals: input.approvals.length,
    commandApprovals: input.approvals.filter((a) => a.subject.kind === 'command').length,
    grants: input.grants.length,
    masked: [...masking.values()].reduce((sum, n) => sum + n, 0),
    maskedResults: results.filter((r) => maskedCounts(r).some(([, n]) => n > 0)).length,
    snapshots: snapshots.length,
  };
  return { input, chains, masking, snapshots, figures };
}

// ---- sections ----

function header(input: ReportInput): string {
  const { manifest, verification } = input;
  const failed = verification.checks.filter((c) => !c.ok);
  const verdict = verification.ok
    ? `All ${count(verification.checks.length)} checks passed when the bundle was exported.`
    : `${count(failed.length)} of ${count(verification.checks.length)} checks failed when the bundle was exported.`;
  const { firstIndex, lastIndex } = manifest.entries;
  const indexes = firstIndex === null ? 'none' : `${count(firstIndex)}..${count(lastIndex ?? firstIndex)}`;
  return `<header>
<h1>Warden evidence report</h1>
<div class="verdict ${verification.ok ? 'ok' : 'bad'}">
<p class="status" data-testid="verification-status">${verification.ok ? 'Verified' : 'NOT VERIFIED'}</p>
<p>${escapeHtml(verdict)} Run <code>warden verify</code> on the bundle with the log's public key, obtained separately, to check it yourself.</p>
</div>
<dl class="facts">
${fact('Log origin', manifest.origin)}
${fact('Window', `${isoTime(manifest.from)} → ${isoTime(manifest.to)}`)}
${fact('Created at', isoTime(manifest.createdAt))}
${fact('Tree size', count(manifest.treeSize))}
${fact('Entry indexes', indexes)}
${fact('Key fingerprint', manifest.keyFingerprint, 'mono')}
${fact('Verified with key', verification.keyFingerprint, 'mono')}
</dl>
${table(
  ['Check', 'Result', 'Detail'],
  verification.checks.map((c) => `<tr class="${c.ok ? 'ok' : 'bad'}"><td class="nowrap">${escapeHtml(c.name)}</td><td>${c.ok ? '<span class="tag allow">ok</span>' : '<span class="tag deny">FAILED</span>'}</td><td class="long">${escapeHtml(c.detail)}</td></tr>`),
  'checks',
)}
</header>`;
}

function summary(figures: Figures): string {
  const figure = (id: string, label: string, n: number) => `<div class="figure"><span class="n" data-testid="${id}">${count(n)}</span><span class="label">${label}</span></div>`;
  return `<section id="summary">
<h2>Summary</h2>
<div class="figures">
${figure('entry-count', 'ledger entries', figures.entries)}
${figure('session-count', 'sessions', figures.sessions)}
${figure('command-count', 'commands', figures.commands)}
${figure('denied-count', 'denied', figures.denied)}
${figure('held-count', 'held for approval', figures.held)}
${figure('approval-count', 'approvals', figures.approvals)}
${figure('grant-count', 'grants', figures.grants)}
${figure('masked-total', 'values masked', figures.masked)}
</div>
</section>`;
}

function sessionsSection(chains: readonly ChainView[]): string {
  const body = chains.length === 0 ? '<p class="none">No sessions in this window.</p>' : chains.map(chainBlock).join('\n');
  return `<section id="sessions">
<h2>Sessions by identity chain</h2>
${body}
</section>`;
}

function chainBlock(chain: ChainView): string {
  const { identity } = chain;
  const agents = identity.act.length === 0 ? 'none (the root identity acts itself)' : identity.act.map((a) => a.sub).join(' → ');
  return `<article class="chain">
<h3>${escapeHtml(identity.sub)}${identity.workload ? ' <span class="tag">workload</span>' : ''}</h3>
<dl class="facts">
${fact('Identity chain', chain.chain, 'mono')}
${fact('Root identity', identity.sub)}
${fact('Groups', identity.groups.join(', ') || '—')}
${fact('Acting agents', agents)}
</dl>
${chain.sessions.map(sessionBlock).join('\n')}
</article>`;
}

function sessionBlock(session: SessionView): string {
  const client = record(session.start?.data.client);
  const justification = text(client.justification);
  const end = session.end ? `${isoTime(session.end.time)} (${text(session.end.data.reason) ?? 'no reason recorded'})` : 'not ended in this window';
  const shown = session.commands.slice(0, MAX_COMMANDS_PER_SESSION);
  const more = session.commands.length - shown.length;
  return `<div class="session">
<h4>Session <span class="mono">${escapeHtml(session.id)}</span></h4>
<dl class="facts">
${fact('Connection', session.connection)}
${fact('Started', session.start ? isoTime(session.start.time) : 'before this window')}
${fact('Ended', end)}
${justification === undefined ? '' : fact('Justification', justification)}
${session.identity.roles?.length ? fact('Granted roles', session.identity.roles.join(', ')) : ''}
</dl>
${
  session.commands.length === 0
    ? '<p class="none">No commands in this window.</p>'
    : table(['Time', 'Kind', 'Command (masked)', 'Decision', 'Reason', 'Policies', 'Result'], shown.map(commandRow), 'commands')
}
${more > 0 ? `<p class="more">${count(more)} more commands of this session are in ${BundlePaths.entries}.</p>` : ''}
</div>`;
}

function commandRow(command: CommandView): string {
  const { first } = command;
  const decision = decisionOf(command);
  const commandText = command.statements.length === 0 ? '(the command entry is before this window)' : command.statements.map((s) => text(s.data.text) ?? '').join(';\n');
  const reasons = unique(command.statements.map((s) => text(s.data.reason)).filter((r) => r !== undefined));
  const policies = unique(command.statements.flatMap((s) => texts(s.data.policies)));
  return `<tr>
<td class="time">${escapeHtml(isoTime(first.time))}</td>
<td class="nowrap">${escapeHtml(text(first.data.kind) ?? '')}</td>
<td class="text">${escapeHtml(capped(commandText))}</td>
<td>${decision === undefined ? '—' : decisionTag(decision)}</td>
<td class="long">${escapeHtml(capped(reasons.join('; ')))}</td>
<td class="long">${escapeHtml(policies.join(', '))}</td>
<td>${command.result ? resultCell(command.result) : '—'}</td>
</tr>`;
}

function resultCell(result: LedgerEntry): string {
  const data = result.data;
  const figures = [
    showRows(data) ? plural(number(data.rows)!, 'row') : undefined,
    text(data.error) === undefined ? undefined : `SQLSTATE ${text(data.error)}`,
    number(data.exitStatus) === undefined ? undefined : `exit status ${number(data.exitStatus)}`,
    text(data.exitSignal) === undefined ? undefined : `signal ${text(data.exitSignal)}`,
    number(data.httpStatus) === undefined ? undefined : `HTTP ${number(data.httpStatus)}`,
    number(data.bytesOut) === undefined ? undefined : `${count(number(data.bytesOut)!)} bytes out`,
    number(data.bytesIn) === undefined ? undefined : `${count(number(data.bytesIn)!)} bytes in`,
    number(data.durationMs) === undefined ? undefined : `${count(number(data.durationMs)!)} ms`,
  ].filter((f) => f !== undefined);
  const masked = maskedCounts(result).filter(([, n]) => n > 0);
  const recording = record(data.recording);
  const lines = [
    escapeHtml(figures.join(' · ')),
    masked.length === 0 ? '' : `masked: ${escapeHtml(masked.map(([rule, n]) => `${rule} ${count(n)}`).join(', '))}`,
    typeof recording.path === 'string'
      ? `recording <span class="mono">${escapeHtml(recordingPath(recording.path))}</span><br>SHA-256 <span class="mono digest">${escapeHtml(text(recording.sha256) ?? '')}</span>`
      : '',
  ];
  return lines.filter((l) => l !== '').join('<br>');
}

/** Rows are what a SQL command sent; for SSH and Kubernetes (with an exit or HTTP status) a zero says nothing. */
function showRows(data: Readonly<Record<string, unknown>>): boolean {
  const rows = number(data.rows);
  return rows !== undefined && (rows > 0 || [data.exitStatus, data.exitSignal, data.httpStatus].every((v) => v === undefined));
}

function approvalsSection(approvals: readonly ApprovalRecord[]): string {
  const rows = approvals.map(
    (a) => `<tr>
<td class="mono">${escapeHtml(a.id)}<br><span class="time">${escapeHtml(isoTime(a.createdAt))}</span></td>
<td>${escapeHtml(a.requester.sub)}${a.requester.act.length > 0 ? ` via ${escapeHtml(a.requester.act.map((x) => x.sub).join(' → '))}` : ''}<br><span class="mono small">${escapeHtml(a.requester.chain)}</span></td>
<td>${escapeHtml(a.connection)}</td>
<td class="text">${escapeHtml(capped(subjectText(a)))}</td>
<td class="long">${escapeHtml(capped(a.policyReason))}</td>
<td class="long">${escapeHtml(capped(a.justification ?? '—'))}</td>
<td>${statusTag(a.status)}</td>
<td class="long">${a.decisions.length === 0 ? '—' : a.decisions.map(approverDecision).join('<br>')}</td>
</tr>`,
  );
  return `<section id="approvals">
<h2>Approvals</h2>
${rows.length === 0 ? '<p class="none">No approval requests in this window.</p>' : table(['Request', 'Requester', 'Connection', 'Subject', 'Policy reason', 'Justification', 'Status', 'Decisions'], rows)}
</section>`;
}

function subjectText(approval: ApprovalRecord): string {
  const { subject } = approval;
  return subject.kind === 'command' ? subject.text : `grant of role ${subject.role} for ${duration(subject.seconds)} (${subject.grantId})`;
}

function approverDecision(d: ApprovalRecord['decisions'][number]): string {
  return `${escapeHtml(d.approver)}: ${statusTag(d.decision)} “${escapeHtml(capped(d.reason))}” via ${escapeHtml(d.via)} at <span class="time">${escapeHtml(isoTime(d.at))}</span>`;
}

function grantsSection(grants: readonly GrantRecord[]): string {
  const rows = grants.map(
    (g) => `<tr>
<td class="mono">${escapeHtml(g.id)}</td>
<td>${escapeHtml(g.holder)}${g.chain === undefined ? '' : `<br><span class="mono small">${escapeHtml(g.chain)}</span>`}</td>
<td>${escapeHtml(g.connection)}</td>
<td>${escapeHtml(g.role)}</td>
<td>${escapeHtml(duration(g.seconds))}</td>
<td>${statusTag(g.status)}${g.endReason === undefined ? '' : `<br>${escapeHtml(capped(g.endReason))}`}</td>
<td class="long">${escapeHtml(capped(g.justification))}</td>
<td class="time">requested ${escapeHtml(isoTime(g.requestedAt))}<br>activated ${escapeHtml(isoTime(g.activatedAt))}<br>expires ${escapeHtml(isoTime(g.expiresAt))}<br>ended ${escapeHtml(isoTime(g.endedAt))}</td>
<td class="mono">${escapeHtml(g.approval ?? '—')}</td>
</tr>`,
  );
  return `<section id="grants">
<h2>Just-in-time grants</h2>
${rows.length === 0 ? '<p class="none">No grants in this window.</p>' : table(['Grant', 'Holder', 'Connection', 'Role', 'Duration', 'Status', 'Justification', 'Times', 'Approval'], rows)}
</section>`;
}

function maskingSection(totals: ReadonlyMap<string, number>): string {
  const rows = [...totals].map(([rule, n]) => `<tr><td>${escapeHtml(rule)}</td><td class="num">${count(n)}</td></tr>`);
  return `<section id="masking">
<h2>Masking</h2>
<p>Values masked before they reached the client, per rule, summed over the command results of this window (counts only; the values are never recorded). Per command: ${BundlePaths.masking}.</p>
${rows.length === 0 ? '<p class="none">No values were masked in this window.</p>' : table(['Rule', 'Values masked'], rows, 'narrow')}
</section>`;
}

function configSection(snapshots: readonly LedgerEntry[], inForce: LedgerEntry | undefined): string {
  const all = [...(inForce ? [{ entry: inForce, when: 'in force when the window opened' }] : []), ...snapshots.map((entry) => ({ entry, when: 'recorded in the window' }))];
  const rows = all.map(({ entry, when }) => {
    const policy = record(entry.data.policy);
    const connections = Object.entries(record(record(entry.data.config).connections)).map(([name, c]) => `${name} (${text(record(c).kind) ?? '?'})`);
    return `<tr>
<td class="time">${escapeHtml(isoTime(entry.time))}<br><span class="small">${when}</span></td>
<td>${escapeHtml(text(policy.version) ?? '—')}</td>
<td class="mono digest">${escapeHtml(text(policy.sha256) ?? '—')}</td>
<td>${escapeHtml(connections.join(', ') || '—')}</td>
</tr>`;
  });
  return `<section id="configuration">
<h2>Configuration</h2>
${rows.length === 0 ? '<p class="none">No configuration snapshot in or before this window.</p>' : table(['Recorded', 'Policy version', 'Policy SHA-256', 'Connections'], rows)}
</section>`;
}

interface ControlRow {
  readonly id: string;
  readonly name: string;
  readonly iso2013: string;
  readonly artifacts: readonly string[];
  readonly shows: string;
}

function controlsSection(view: ReportView): string {
  const rows = controls(view).map(
    (c) => `<tr data-control="${escapeHtml(c.id)}">
<td><strong>${escapeHtml(c.id)}</strong> ${escapeHtml(c.name)}</td>
<td>${escapeHtml(c.iso2013)}</td>
<td class="mono">${c.artifacts.map(escapeHtml).join('<br>')}</td>
<td>${escapeHtml(c.shows)}</td>
</tr>`,
  );
  return `<section id="controls">
<h2>Controls</h2>
<p>How this bundle evidences ISO/IEC 27001:2022 Annex A controls, with the ISO/IEC 27001:2013 controls they replace.</p>
${table(['ISO/IEC 27001:2022', '2013', 'Artifacts', 'What in this bundle shows it'], rows)}
</section>`;
}

function controls({ input, figures: f }: ReportView): ControlRow[] {
  const passed = (name: string) => input.verification.checks.some((c) => c.name === name && c.ok);
  const signatures = passed('manifest-signature') && passed('checkpoint-signature') ? 'verified' : 'NOT verified';
  const snapshots = f.snapshots + (input.configInForce ? 1 : 0);
  const P = BundlePaths;
  return [
    {
      id: '8.15',
      name: 'Logging',
      iso2013: 'A.12.4.1, A.12.4.2, A.12.4.3',
      artifacts: [P.entries, P.checkpoint, P.proofs],
      shows: `${plural(f.entries, 'entry', 'entries')}, hash-chained per session and proven in a signed tree of size ${count(input.manifest.treeSize)}`,
    },
    {
      id: '8.16',
      name: 'Monitoring activities',
      iso2013: 'new in 2022; cf. A.12.4.1',
      artifacts: [P.entries],
      shows: `${plural(f.denied, 'denied command')}, ${plural(f.held, 'command')} held for approval, ${plural(f.revokedEnds, 'session')} ended on revocation`,
    },
    {
      id: '8.2',
      name: 'Privileged access rights',
      iso2013: 'A.9.2.3',
      artifacts: [P.grants, P.approvals],
      shows: `${plural(f.grants, 'grant')}, ${plural(f.commandApprovals, 'approval request')} for privileged commands`,
    },
    {
      id: '8.5',
      name: 'Secure authentication',
      iso2013: 'A.9.4.2',
      artifacts: [P.entries],
      shows: `${plural(f.sessionStarts, 'session start')} with the identity chain and a short-lived token, across ${plural(f.chains, 'identity chain')}`,
    },
    {
      id: '8.11',
      name: 'Data masking',
      iso2013: 'new in 2022; related A.13.2.1, A.18.1.4',
      artifacts: [P.masking, P.entries],
      shows: `${plural(f.masked, 'value')} masked in ${plural(f.maskedResults, 'command result')}`,
    },
    {
      id: '5.15',
      name: 'Access control',
      iso2013: 'A.9.1.1, A.9.1.2',
      artifacts: [P.entries, P.configInForce],
      shows: `${plural(f.commands, 'command')} decided by policy, each naming its policy version (${plural(f.policyVersions, 'version')} in use); ${plural(snapshots, 'configuration snapshot')}`,
    },
    {
      id: '5.18',
      name: 'Access rights',
      iso2013: 'A.9.2.2, A.9.2.5, A.9.2.6',
      artifacts: [P.approvals, P.grants],
      shows: `${plural(f.approvals, 'approval')}, ${plural(f.grants, 'grant')}`,
    },
    {
      id: '8.24',
      name: 'Use of cryptography',
      iso2013: 'A.10.1.1, A.10.1.2',
      artifacts: [P.manifest, P.checkpoint, P.proofs, P.fingerprint],
      shows: `manifest and checkpoint signatures ${signatures}; ${plural(input.manifest.files.length, 'SHA-256 file digest')}; ${plural(f.entries + (input.configInForce ? 1 : 0), 'Merkle inclusion proof')}`,
    },
  ];
}

// ---- small pieces of HTML ----

function table(headings: readonly string[], rows: readonly string[], className = ''): string {
  return `<table${className ? ` class="${className}"` : ''}>
<thead><tr>${headings.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function fact(label: string, value: string, className = ''): string {
  return `<div><dt>${escapeHtml(label)}</dt><dd${className ? ` class="${className}"` : ''}>${escapeHtml(value)}</dd></div>`;
}

/** The class comes from a fixed set: the value itself is data. */
function decisionTag(decision: string): string {
  const kind = decision === 'allow' || decision === 'deny' || decision === 'approval' ? decision : 'other';
  return `<span class="tag ${kind}">${escapeHtml(decision)}</span>`;
}

function statusTag(status: string): string {
  const kinds: Record<string, string> = { approved: 'allow', used: 'allow', approve: 'allow', active: 'allow', denied: 'deny', deny: 'deny', revoked: 'deny', pending: 'approval' };
  return `<span class="tag ${Object.hasOwn(kinds, status) ? kinds[status] : 'other'}">${escapeHtml(status)}</span>`;
}

// ---- formatting ----

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

function isoTime(value: unknown): string {
  const s = text(value);
  if (s === undefined) return '—';
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? s : new Date(ms).toISOString();
}

function duration(seconds: number): string {
  const parts = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor((seconds % 86_400) / 3600), 'h'],
    [Math.floor((seconds % 3600) / 60), 'm'],
    [seconds % 60, 's'],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, unit]) => `${n}${unit}`)
      .join(' ') || '0s'
  );
}

function capped(s: string): string {
  return s.length <= MAX_TEXT ? s : `${s.slice(0, MAX_TEXT)}…`;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

const STYLE = `
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; --allow: #1a7f37; --allow-bg: #dafbe1; --deny: #b42318; --deny-bg: #ffebe9; --held: #8a5a00; --held-bg: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.86em; margin: 0 0 12px; }
h2 { font-size: 1.43em; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.21em; margin: 20px 0 6px; }
h4 { font-size: 1.07em; margin: 16px 0 6px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.89em; }
.small { font-size: 0.82em; color: var(--muted); }
.digest { word-break: break-all; }
.verdict { border: 2px solid; border-radius: 8px; padding: 10px 16px; margin: 8px 0 16px; }
.verdict p { margin: 4px 0; }
.verdict .status { font-size: 2em; font-weight: 700; letter-spacing: 0.02em; }
.verdict.ok { border-color: var(--allow); background: var(--allow-bg); }
.verdict.ok .status { color: var(--allow); }
.verdict.bad { border-color: var(--deny); background: var(--deny-bg); }
.verdict.bad .status { color: var(--deny); }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 6px 24px; margin: 8px 0 12px; }
dl.facts div { min-width: 0; }
dt { font-size: 0.82em; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; margin: 8px 0 12px; }
table.narrow { width: auto; min-width: 320px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); overflow-wrap: break-word; }
/* Free text may hold one endless token: let it wrap anywhere rather than widen the table. */
td.text, td.long { overflow-wrap: anywhere; }
th { white-space: nowrap; background: var(--bg); font-size: 0.86em; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.time, span.time { white-space: nowrap; font-variant-numeric: tabular-nums; font-size: 0.89em; }
td.nowrap { white-space: nowrap; }
td.text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.89em; white-space: pre-wrap; max-width: 420px; }
table.checks tr.bad td { background: var(--deny-bg); }
.tag { display: inline-block; white-space: nowrap; padding: 0 6px; border-radius: 10px; font-size: 0.86em; font-weight: 600; border: 1px solid var(--line); background: var(--bg); }
.tag.allow { color: var(--allow); background: var(--allow-bg); border-color: var(--allow); }
.tag.deny { color: var(--deny); background: var(--deny-bg); border-color: var(--deny); }
.tag.approval { color: var(--held); background: var(--held-bg); border-color: var(--held); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; }
.figure { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: var(--bg); }
.figure .n { display: block; font-size: 1.71em; font-weight: 700; font-variant-numeric: tabular-nums; }
.figure .label { color: var(--muted); font-size: 0.89em; }
.chain { border-left: 4px solid var(--line); padding-left: 14px; margin: 16px 0 24px; }
.session { margin: 10px 0 18px; }
.none, .more { color: var(--muted); font-style: italic; }
@media print {
  body { font-size: 10.5px; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  tr, .figure, .verdict { break-inside: avoid; }
  .chain { break-inside: auto; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  td.text { max-width: none; }
}
`;
