/**
 * report.html: the figures, the ISO/IEC 27001 controls table and the escaping from the HTML
 * text, then a real render in headless Chromium from a file:// URL with the network blocked.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { BUNDLE_FORMAT, type Manifest } from '../../../core/evidence/bundle.js';
import type { BundleReport } from '../../../core/evidence/verify-bundle.js';
import { GENESIS_HASH, SYSTEM_SESSION, type EntryType, type IdentityChain, type LedgerEntry } from '../../../core/ledger/entry.js';
import type { ApprovalRecord } from '../../../functions/lib/approval-store.js';
import { renderReport, type ReportInput } from '../../../functions/lib/evidence/report.js';
import type { GrantRecord } from '../../../functions/lib/grant-store.js';

const CHROMIUM = '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';
const TRICKY_REASON = 'DROP is "destructive" & forbidden';
/** One unbroken word, to show the page still fits 1280 px. */
const LONG_TOKEN = 'QUJD'.repeat(100);

const alice: IdentityChain = { sub: 'alice@example.com', groups: ['eng'], chain: 'chn_alice', act: [] };
const bobAgent: IdentityChain = { sub: 'bob@example.com', groups: ['eng', 'dba'], chain: 'chn_bob_agent', act: [{ sub: 'agent:claude-code' }] };
const warden: IdentityChain = { sub: 'warden', groups: [], chain: SYSTEM_SESSION, act: [] };

/** Builds ledger entries in index order, numbering each session's chain. */
function ledger() {
  const entries: LedgerEntry[] = [];
  const seqs = new Map<string, number>();
  let clock = Date.parse('2026-03-02T09:00:00Z');
  const add = (session: string, type: EntryType, identity: IdentityChain, connection: string, data: Record<string, unknown>): LedgerEntry => {
    const seq = seqs.get(session) ?? 0;
    seqs.set(session, seq + 1);
    clock += 7_000;
    const entry: LedgerEntry = { v: 1, id: `b${entries.length + 100}.0`, session, seq, prev: GENESIS_HASH, type, time: new Date(clock).toISOString(), identity, connection, digest: 'd'.repeat(64), data };
    entries.push(entry);
    return entry;
  };
  return { entries, add };
}

const sql = (commandId: number, text: string, decision: string, policies: string[], reason?: string, statement = 0, statements = 1) => ({
  commandId,
  kind: 'sql.query',
  policyVersion: 'pv-7f3a',
  statement,
  statements,
  text,
  decision,
  policies,
  ...(reason === undefined ? {} : { reason }),
});

const snapshotData = (version: string) => ({
  config: { connections: { 'orders-db': { kind: 'postgres', host: 'db.internal', password: '[redacted]' }, bastion: { kind: 'ssh', host: 'bastion.internal' } } },
  policy: { version, sha256: version.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a'), ids: ['permit-read'], text: 'permit(principal, action, resource);' },
});

function fixture(): ReportInput {
  const { entries, add } = ledger();
  add(SYSTEM_SESSION, 'config.snapshot', warden, '', snapshotData('pv-7f3a'));

  const start = (session: string, identity: IdentityChain, connection: string, protocol: string, justification?: string) =>
    add(session, 'session.start', identity, connection, {
      protocol,
      client: { address: '10.0.0.5:51234', tls: true, user: identity.sub, ...(justification ? { justification } : {}) },
      token: { jti: `jti-${session}`, expiresAt: '2026-03-02T10:00:00.000Z' },
      policyVersion: 'pv-7f3a',
    });

  // alice, by herself, on PostgreSQL.
  start('s1', alice, 'orders-db', 'postgres', 'INC-42: check refund for customer 7');
  add('s1', 'command', alice, 'orders-db', sql(0, 'SELECT email FROM customers WHERE id = $1', 'allow', ['permit-read']));
  add('s1', 'command.result', alice, 'orders-db', { commandId: 0, rows: 1, masked: { email: 1 } });
  add('s1', 'command', alice, 'orders-db', sql(1, 'SELECT 1', 'deny', ['same-message'], 'not run: statement 2 of 2 refused', 0, 2));
  add('s1', 'command', alice, 'orders-db', sql(1, 'DROP TABLE orders', 'deny', ['no-ddl'], TRICKY_REASON, 1, 2));
  add('s1', 'command', alice, 'orders-db', sql(2, `SELECT '${XSS}'`, 'allow', ['permit-read']));
  add('s1', 'command.result', alice, 'orders-db', { commandId: 2, rows: 1, masked: {} });
  add('s1', 'command', alice, 'orders-db', sql(3, 'DELETE FROM orders', 'approval', ['no-delete-all'], 'DELETE without WHERE changes every row'));
  add('s1', 'approval.requested', alice, 'orders-db', { approval: 'apr_1', subject: { kind: 'command', commandId: 3, text: 'DELETE FROM orders' }, policies: ['no-delete-all'], reason: 'DELETE without WHERE changes every row' });
  add('s1', 'approval.decided', alice, 'orders-db', { approval: 'apr_1', approver: { sub: 'carol@example.com', groups: ['approvers'] }, decision: 'approve', reason: 'ticket OPS-7', via: 'slack', status: 'approved' });
  add('s1', 'command', alice, 'orders-db', sql(4, 'DELETE FROM orders', 'allow', ['no-delete-all', 'approval:apr_1'], 'approved (carol@example.com)'));
  add('s1', 'command.result', alice, 'orders-db', { commandId: 4, rows: 0, masked: {} });
  add('s1', 'session.end', alice, 'orders-db', { reason: 'the client closed the connection' });

  // bob's agent on PostgreSQL, then on the bastion's shell, until the chain is revoked.
  start('s2', bobAgent, 'orders-db', 'postgres');
  add('s2', 'command', bobAgent, 'orders-db', sql(0, `SELECT card_number, email FROM payments WHERE batch = '${LONG_TOKEN}'`, 'allow', ['permit-read']));
  add('s2', 'command.result', bobAgent, 'orders-db', { commandId: 0, rows: 1200, masked: { card: 1200, email: 3 } });
  add('s2', 'command', bobAgent, 'orders-db', sql(1, 'UPDATE payments SET refunded = true', 'approval', ['no-update-all'], 'UPDATE without WHERE changes every row'));
  add('s2', 'approval.requested', bobAgent, 'orders-db', { approval: 'apr_2', subject: { kind: 'command', commandId: 1, text: 'UPDATE payments SET refunded = true' } });
  add('s2', 'approval.decided', bobAgent, 'orders-db', { approval: 'apr_2', decision: 'deny', status: 'denied' });
  start('s3', bobAgent, 'bastion', 'ssh');
  add('s3', 'command', bobAgent, 'bastion', { commandId: 0, kind: 'ssh.shell', policyVersion: 'pv-7f3a', statement: 0, statements: 1, text: '(interactive shell)', decision: 'allow', policies: ['permit-shell'] });
  add('s3', 'command', bobAgent, 'bastion', { commandId: 1, kind: 'ssh.line', policyVersion: 'pv-7f3a', statement: 0, statements: 1, text: 'sudo cat /etc/shadow', decision: 'deny', policies: ['no-sudo'], reason: 'sudo is not allowed', enforced: false });
  add('s3', 'command.result', bobAgent, 'bastion', {
    commandId: 0,
    rows: 0,
    exitStatus: 0,
    bytesOut: 51_200,
    durationMs: 61_000,
    recording: { path: '/var/lib/warden/recordings/s3-0.cast', sha256: 'ab'.repeat(32), bytes: 9_876 },
    masked: { aws_key: 1 },
  });
  const revoked = "the session's token was revoked at 2026-03-02T09:05:00.000Z (agent misbehaved)";
  add('s2', 'session.end', bobAgent, 'orders-db', { reason: revoked });
  add('s3', 'session.end', bobAgent, 'bastion', { reason: revoked });

  // alice's just-in-time grant.
  const grantData = { grant: 'grt_YWxpY2U.x1', holder: alice.sub, role: 'dba', seconds: 3600, justification: 'INC-42 & migration "v2"' };
  add(SYSTEM_SESSION, 'grant.requested', alice, 'orders-db', { ...grantData, policies: ['grant-needs-approval'], outcome: 'approval' });
  add(SYSTEM_SESSION, 'grant.approved', alice, 'orders-db', grantData);
  add(SYSTEM_SESSION, 'grant.activated', alice, 'orders-db', { ...grantData, activatedAt: '2026-03-02T09:06:00.000Z', expiresAt: '2026-03-02T10:06:00.000Z' });

  const configInForce: LedgerEntry = {
    v: 1,
    id: 'b3.0',
    session: SYSTEM_SESSION,
    seq: 0,
    prev: GENESIS_HASH,
    type: 'config.snapshot',
    time: '2026-02-27T08:00:00.000Z',
    identity: warden,
    connection: '',
    digest: 'c'.repeat(64),
    data: snapshotData('pv-1b2c'),
  };
  return {
    manifest: manifest(entries.length),
    entries,
    configInForce,
    approvals: approvals(),
    grants: [grant()],
    verification: passing(entries.length),
  };
}

function manifest(count: number): Manifest {
  return {
    format: BUNDLE_FORMAT,
    origin: 'warden.example.com/ledger',
    from: '2026-03-02T09:00:00Z',
    to: '2026-03-02T10:00:00Z',
    createdAt: '2026-03-03T07:30:00.000Z',
    keyFingerprint: `SHA256:${'f0'.repeat(32)}`,
    treeSize: 12_345,
    entries: { count, firstIndex: 12_000, lastIndex: 12_000 + count - 1 },
    files: ['checkpoint.note', 'entries.jsonl', 'proofs.jsonl', 'approvals.jsonl', 'grants.jsonl', 'masking.jsonl', 'key-fingerprint.txt'].map((path) => ({ path, sha256: '1'.repeat(64), bytes: 100 })),
  };
}

function approvals(): ApprovalRecord[] {
  const base = { version: 2, connection: 'orders-db', requirements: [{ policy: 'p', groups: ['approvers'], quorum: 1 }], createdAt: '2026-03-02T09:01:00.000Z', expiresAt: '2026-03-02T09:11:00.000Z' };
  return [
    {
      ...base,
      id: 'apr_1',
      status: 'used',
      subject: { kind: 'command', sessionId: 's1', commandId: 3, text: 'DELETE FROM orders', digest: 'd'.repeat(64) },
      requester: alice,
      policies: ['no-delete-all'],
      policyReason: 'DELETE without WHERE changes every row',
      justification: 'INC-42: check refund for customer 7',
      decisions: [{ approver: 'carol@example.com', groups: ['approvers'], decision: 'approve', reason: 'ticket OPS-7', at: '2026-03-02T09:02:00.000Z', via: 'slack' }],
    },
    {
      ...base,
      id: 'apr_2',
      status: 'denied',
      subject: { kind: 'command', sessionId: 's2', commandId: 1, text: 'UPDATE payments SET refunded = true', digest: 'e'.repeat(64) },
      requester: bobAgent,
      policies: ['no-update-all'],
      policyReason: 'UPDATE without WHERE changes every row',
      decisions: [{ approver: 'carol@example.com', groups: ['approvers'], decision: 'deny', reason: 'no ticket for this', at: '2026-03-02T09:04:00.000Z', via: 'cli' }],
    },
    {
      ...base,
      id: 'apr_3',
      status: 'approved',
      subject: { kind: 'grant', grantId: 'grt_YWxpY2U.x1', role: 'dba', seconds: 3600 },
      requester: alice,
      policies: ['grant-needs-approval'],
      policyReason: 'the dba role needs an approver',
      justification: 'INC-42 & migration "v2"',
      decisions: [{ approver: 'dave@example.com', groups: ['approvers'], decision: 'approve', reason: 'ok for one hour', at: '2026-03-02T09:06:00.000Z', via: 'api' }],
    },
  ];
}

function grant(): GrantRecord {
  return {
    id: 'grt_YWxpY2U.x1',
    version: 3,
    status: 'active',
    holder: alice.sub,
    connection: 'orders-db',
    role: 'dba',
    seconds: 3600,
    justification: 'INC-42 & migration "v2"',
    requestedAt: '2026-03-02T09:05:30.000Z',
    approval: 'apr_3',
    activatedAt: '2026-03-02T09:06:00.000Z',
    expiresAt: '2026-03-02T10:06:00.000Z',
  };
}

function passing(count: number): BundleReport {
  return {
    ok: true,
    keyFingerprint: `SHA256:${'f0'.repeat(32)}`,
    checks: [
      { name: 'manifest-signature', ok: true, detail: 'signed by warden.example.com/ledger' },
      { name: 'key-fingerprint', ok: true, detail: `SHA256:${'f0'.repeat(32)}` },
      { name: 'file-digests', ok: true, detail: '7 files match the manifest' },
      { name: 'checkpoint-signature', ok: true, detail: 'warden.example.com/ledger, tree size 12345' },
      { name: 'entries-complete', ok: true, detail: `${count} entries, none missing` },
      { name: 'inclusion-proofs', ok: true, detail: `${count + 1} entries proven in the tree of size 12345` },
      { name: 'hash-chains', ok: true, detail: '4 session chains link up' },
      { name: 'recordings', ok: true, detail: '1 recordings match their entries' },
    ],
  };
}

const FAILED_DETAIL = 'entries.jsonl is not the file the manifest lists (SHA-256 differs)';

function failing(count: number): BundleReport {
  const report = passing(count);
  return { ...report, ok: false, checks: report.checks.map((c) => (c.name === 'file-digests' ? { ...c, ok: false, detail: FAILED_DETAIL } : c)) };
}

/** What the page must show, worked out from the input rather than from the renderer. */
function expectedFigures(input: ReportInput): Record<string, string> {
  const commandEntries = input.entries.filter((e) => e.type === 'command');
  const commands = new Set(commandEntries.map((e) => `${e.session}/${String(e.data.commandId)}`));
  const masked = input.entries.filter((e) => e.type === 'command.result').flatMap((e) => Object.values(e.data.masked as Record<string, number>));
  const fmt = (n: number) => n.toLocaleString('en-US');
  return {
    'verification-status': input.verification.ok ? 'Verified' : 'NOT VERIFIED',
    'entry-count': fmt(input.entries.length),
    'session-count': fmt(new Set(input.entries.filter((e) => e.session !== SYSTEM_SESSION).map((e) => e.session)).size),
    'command-count': fmt(commands.size),
    // s1's two-statement DROP and s3's sudo line; s1's DELETE and s2's UPDATE.
    'denied-count': '2',
    'held-count': '2',
    'approval-count': fmt(input.approvals.length),
    'grant-count': fmt(input.grants.length),
    'masked-total': fmt(masked.reduce((a, b) => a + b, 0)),
  };
}

function testIdsIn(html: string): Record<string, string> {
  return Object.fromEntries([...html.matchAll(/data-testid="([^"]+)">([^<]*)</g)].map((m) => [m[1]!, m[2]!]));
}

const CONTROLS: [id: string, name: string, iso2013: string[]][] = [
  ['8.15', 'Logging', ['A.12.4.1', 'A.12.4.2', 'A.12.4.3']],
  ['8.16', 'Monitoring activities', ['A.12.4.1']],
  ['8.2', 'Privileged access rights', ['A.9.2.3']],
  ['8.5', 'Secure authentication', ['A.9.4.2']],
  ['8.11', 'Data masking', ['A.13.2.1', 'A.18.1.4']],
  ['5.15', 'Access control', ['A.9.1.1', 'A.9.1.2']],
  ['5.18', 'Access rights', ['A.9.2.2', 'A.9.2.5', 'A.9.2.6']],
  ['8.24', 'Use of cryptography', ['A.10.1.1', 'A.10.1.2']],
];

function controlRow(html: string, id: string): string {
  const row = new RegExp(`<tr data-control="${id.replace('.', '\\.')}">([\\s\\S]*?)</tr>`).exec(html)?.[1];
  assert.ok(row, `no controls row for ${id}`);
  return row;
}

describe('renderReport', () => {
  const input = fixture();
  const html = renderReport(input);

  it('shows the figures of the window', () => {
    assert.deepEqual(testIdsIn(html), expectedFigures(input));
    assert.equal(testIdsIn(html)['masked-total'], '1,205');
    assert.match(html, /12,345/);
    assert.match(html, /warden\.example\.com\/ledger/);
    assert.match(html, /2026-03-02T09:00:00\.000Z → 2026-03-02T10:00:00\.000Z/);
  });

  it('lays the sections out in order', () => {
    const order = ['id="summary"', 'id="sessions"', 'id="approvals"', 'id="grants"', 'id="masking"', 'id="configuration"', 'id="controls"'].map((s) => html.indexOf(s));
    assert.ok(order.every((at, i) => at > html.indexOf('data-testid="verification-status"') && (i === 0 || at > order[i - 1]!)), String(order));
  });

  it('groups sessions by identity chain, the agent named, results and recordings beside their commands', () => {
    const bob = html.slice(html.indexOf('chn_bob_agent'));
    assert.match(bob, /agent:claude-code/);
    assert.match(bob, /1,200 rows/);
    assert.match(bob, /masked: card 1,200, email 3/);
    assert.match(bob, /recordings\/s3-0\.cast/);
    assert.match(bob, new RegExp(`SHA-256 <span[^>]*>${'ab'.repeat(32)}<`));
    assert.match(bob, /exit status 0/);
    assert.match(html, /INC-42: check refund for customer 7/);
    assert.match(html, /SELECT 1;\nDROP TABLE orders/, 'the statements of one command share a row');
    assert.match(html, /<span class="tag deny">deny<\/span>/);
    assert.match(html, /<span class="tag approval">approval<\/span>/);
  });

  it('lists approvals with every decision, grants, masking totals and configurations', () => {
    const approvals = html.slice(html.indexOf('id="approvals"'), html.indexOf('id="grants"'));
    assert.match(approvals, /carol@example\.com: <span class="tag allow">approve<\/span> “ticket OPS-7” via slack at/);
    assert.match(approvals, /carol@example\.com: <span class="tag deny">deny<\/span> “no ticket for this” via cli/);
    assert.match(approvals, /grant of role dba for 1h \(grt_YWxpY2U\.x1\)/);
    const grants = html.slice(html.indexOf('id="grants"'), html.indexOf('id="masking"'));
    assert.match(grants, /grt_YWxpY2U\.x1[\s\S]*dba[\s\S]*1h[\s\S]*active[\s\S]*apr_3/);
    const masking = html.slice(html.indexOf('id="masking"'), html.indexOf('id="configuration"'));
    assert.match(masking, /card<\/td><td class="num">1,200</);
    assert.match(masking, /email<\/td><td class="num">4</);
    const config = html.slice(html.indexOf('id="configuration"'), html.indexOf('id="controls"'));
    assert.match(config, /pv-1b2c[\s\S]*pv-7f3a/, 'the configuration in force first, then the window\'s');
    assert.match(config, /orders-db \(postgres\), bastion \(ssh\)/);
  });

  it('maps every ISO/IEC 27001:2022 control to its 2013 numbers, artifacts and a count from the window', () => {
    for (const [id, name, iso2013] of CONTROLS) {
      const row = controlRow(html, id);
      assert.match(row, new RegExp(`${id.replace('.', '\\.')}</strong> ${name}`));
      for (const old of iso2013) assert.ok(row.includes(old), `${id} lacks ${old}`);
    }
    assert.match(controlRow(html, '8.15'), /entries\.jsonl[\s\S]*checkpoint\.note[\s\S]*proofs\.jsonl[\s\S]*29 entries/);
    assert.match(controlRow(html, '8.16'), /2 denied commands, 2 commands held for approval, 2 sessions ended on revocation/);
    assert.match(controlRow(html, '8.2'), /grants\.jsonl[\s\S]*1 grant, 2 approval requests for privileged commands/);
    assert.match(controlRow(html, '8.5'), /3 session starts/);
    assert.match(controlRow(html, '8.11'), /masking\.jsonl[\s\S]*1,205 values masked in 3 command results/);
    assert.match(controlRow(html, '5.15'), /2 configuration snapshots/);
    assert.match(controlRow(html, '5.18'), /approvals\.jsonl[\s\S]*3 approvals, 1 grant/);
    assert.match(controlRow(html, '8.24'), /manifest\.note[\s\S]*signatures verified; 7 SHA-256 file digests; 30 Merkle inclusion proofs/);
  });

  it('escapes what the data says', () => {
    assert.ok(!html.includes('<img'), 'no raw <img in the output');
    assert.ok(html.includes('SELECT &#39;&lt;img src=x onerror=alert(1)&gt;&#39;'));
    assert.ok(html.includes('DROP is &quot;destructive&quot; &amp; forbidden'));
    assert.ok(html.includes('INC-42 &amp; migration &quot;v2&quot;'));
    assert.ok(!html.includes(TRICKY_REASON));
  });

  it('forbids scripts and loads, and uses none', () => {
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    assert.doesNotMatch(html, /<script|<link|<img|src=["']|url\(|@import/i);
  });

  it('shows a failing verification as NOT VERIFIED with the failing check', () => {
    const failed = renderReport({ ...input, verification: failing(input.entries.length) });
    assert.equal(testIdsIn(failed)['verification-status'], 'NOT VERIFIED');
    assert.match(failed, /1 of 8 checks failed/);
    assert.match(failed, new RegExp(`<tr class="bad"><td class="nowrap">file-digests</td><td><span class="tag deny">FAILED</span></td><td class="long">${FAILED_DETAIL.replace(/[()]/g, '\\$&')}</td></tr>`));
    assert.doesNotMatch(failed, />Verified</);
  });

  it('caps long texts and long sessions', () => {
    const { entries, add } = ledger();
    add('s9', 'session.start', alice, 'orders-db', { protocol: 'postgres', client: {} });
    for (let id = 0; id < 205; id++) add('s9', 'command', alice, 'orders-db', sql(id, `SELECT ${'x'.repeat(id === 0 ? 600 : 5)}`, 'allow', ['permit-read']));
    const long = renderReport({ manifest: manifest(entries.length), entries, approvals: [], grants: [], verification: passing(entries.length) });
    assert.match(long, new RegExp(`SELECT ${'x'.repeat(493)}…<`));
    assert.match(long, /5 more commands of this session are in entries\.jsonl/);
    assert.equal(testIdsIn(long)['command-count'], '205');
    assert.match(long, /No approval requests in this window/);
  });
});

/** Width, height and an RGB reader of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). */
function decodePng(png: Buffer): { width: number; height: number; rgb(x: number, y: number): [number, number, number] } {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
      assert.deepEqual([data[8], data[12]], [8, 0], '8-bit, not interlaced');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : assert.fail(`colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0;
      const paeth = () => {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const predictor = [0, a, b, (a + b) >> 1, filter === 4 ? paeth() : 0][filter]!;
      pixels[y * stride + i] = (x + predictor) & 0xff;
    }
  }
  const rgb = (x: number, y: number): [number, number, number] => {
    const at = y * stride + x * channels;
    return [pixels[at]!, pixels[at + 1]!, pixels[at + 2]!];
  };
  return { width, height, rgb };
}

describe('report.html in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (CI installs the chromium package)` }, () => {
  let browser: Browser;
  let dir: string;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    dir = await mkdtemp(join(tmpdir(), 'warden-report-'));
  });
  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Opens the report from a file:// URL with every other request blocked; returns the page and what it tried to load. */
  async function open(name: string, html: string) {
    const file = join(dir, name);
    await writeFile(file, html);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const blocked: string[] = [];
    const problems: string[] = [];
    await page.route('**', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    page.on('request', (request) => {
      if (!request.url().startsWith('file:')) blocked.push(request.url());
    });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, blocked, problems };
  }

  it('renders offline: the figures read from the DOM, a full-page screenshot of a real page', async (t) => {
    const input = fixture();
    const { page, blocked, problems } = await open('report.html', renderReport(input));
    assert.deepEqual(blocked, [], 'no request left the file');
    assert.deepEqual(problems, [], 'no console errors (a CSP violation would be one)');
    for (const [id, expected] of Object.entries(expectedFigures(input))) assert.equal((await page.getByTestId(id).textContent())?.trim(), expected, id);
    assert.equal(await page.locator('img, script').count(), 0);
    assert.equal(await page.getByText(XSS, { exact: false }).count(), 1, 'the command text shows as text');
    assert.equal(await page.locator('#controls tbody tr').count(), CONTROLS.length);
    assert.equal(await page.evaluate('document.documentElement.scrollWidth'), 1280, 'no horizontal scrolling at 1280 px');

    const shot = await page.screenshot({ fullPage: true, type: 'png' });
    await writeFile(join(dir, 'report.png'), shot);
    const png = decodePng(shot);
    t.diagnostic(`screenshot ${png.width}×${png.height} px, ${shot.length.toLocaleString('en-US')} bytes`);
    assert.ok(png.width >= 1000 && png.height >= 600, `${png.width}×${png.height}`);
    const colours = new Set<string>();
    for (let y = 0; y < png.height; y += 7) for (let x = 0; x < png.width; x += 5) colours.add(png.rgb(x, y).join());
    assert.ok(colours.size > 20, `${colours.size} colours: more than a blank page`);
    // The verdict box's padding shows its background: the stylesheet's green for Verified.
    const box = await page.locator('.verdict').boundingBox();
    assert.ok(box);
    assert.deepEqual(png.rgb(Math.round(box.x + 8), Math.round(box.y + 5)), [0xda, 0xfb, 0xe1]);
    await page.close();
  });

  it('renders a failing verification in red with the failing check', async () => {
    const input = fixture();
    const { page, blocked } = await open('failed.html', renderReport({ ...input, verification: failing(input.entries.length) }));
    assert.deepEqual(blocked, []);
    assert.equal(await page.getByTestId('verification-status').textContent(), 'NOT VERIFIED');
    assert.equal(await page.locator('table.checks tr.bad td').last().textContent(), FAILED_DETAIL);
    const png = decodePng(await page.screenshot({ type: 'png' }));
    const box = await page.locator('.verdict').boundingBox();
    assert.ok(box);
    assert.deepEqual(png.rgb(Math.round(box.x + 8), Math.round(box.y + 5)), [0xff, 0xeb, 0xe9]);
    await page.close();
  });
});
