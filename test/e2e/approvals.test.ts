/**
 * End to end: a command policy holds waits in psql for people who decide in Slack (a local
 * stand-in speaking Slack's signed protocol), with the CLI, or through the API; and every
 * way of approving what one should not is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { startFakeSlack, type FakeSlack, type InteractionOptions } from '../helpers/fake-slack.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { spawnPsql } from '../helpers/psql-client.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const SIGNING_SECRET = 'test-slack-signing-secret';
const SSN = '123-45-6789';

describe('approvals through warden up', () => {
  let db: TestPostgres;
  let slack: FakeSlack;
  let warden: RunningTestWarden;
  let dir: string;
  let apiUrl: string;

  const token = async (name: string, groups: string) => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  /** psql running one command; resolves `held` with the approval id once Warden's notice arrives. */
  const heldPsql = (password: string, sql: string, env: Record<string, string> = {}) =>
    spawnPsql({ bindir: db.bindir, port: warden.proxyPort, user: 'alice', database: 'app' }, password, ['-c', sql], env);
  const click = (options: Omit<InteractionOptions, 'signingSecret'> & { signingSecret?: string }) => {
    const { body, headers } = slack.signedInteraction({ signingSecret: SIGNING_SECRET, ...options });
    return send(body, headers);
  };
  const send = (body: string, headers: Record<string, string>) => fetch(`${apiUrl}/v1/slack/interactions`, { method: 'POST', headers, body });
  const status = async (id: string, bearer: string) =>
    (await (await fetch(`${apiUrl}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${bearer}` } })).json()) as { status: string; decisions: unknown[]; justification: string | null };

  const entries = async () => (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);

  before(async () => {
    db = await startTestPostgres();
    await db.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'a'), (2, 'b'); ALTER TABLE orders OWNER TO ${db.user};`, db.database);
    slack = await startFakeSlack();
    dir = await mkdtemp(join(tmpdir(), 'warden-approvals-'));
    // The shipped set (DELETE or UPDATE without WHERE needs one of "approvers"), and a rule that needs two DBAs.
    await writeFile(
      join(dir, 'policies.cedar'),
      `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}
@id("two-dbas-for-order-notes")
@approval("order notes are evidence; two DBAs must agree")
@approvers("dba")
@quorum("2")
forbid (principal, action == Warden::Action::"sql:update", resource)
when { context.tablesWritten.contains("orders") && context.hasWhere };
`,
    );
    warden = await startTestWarden(
      {
        connections: { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' } },
        policy: { file: join(dir, 'policies.cedar') },
        approvals: {
          slack: {
            webhookUrlEnv: 'TEST_SLACK_WEBHOOK',
            signingSecretEnv: 'TEST_SLACK_SECRET',
            responseUrlPrefix: slack.responseUrlPrefix,
            users: { U0BOB: { sub: 'bob', groups: ['approvers', 'dba'] }, U0ALICE: { sub: 'alice', groups: ['approvers'] }, U0MALLORY: { sub: 'mallory', groups: ['eng'] } },
          },
        },
      },
      { TEST_APP_PASSWORD: db.password, TEST_SLACK_WEBHOOK: slack.webhookUrl, TEST_SLACK_SECRET: SIGNING_SECRET },
    );
    apiUrl = (await warden.running()).controlPlaneUrl;
  });

  after(async () => {
    await warden?.stop();
    await slack?.close();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds psql with a notice, posts to Slack, and runs the statement when two DBAs approve (Slack, then the CLI)', async () => {
    const alice = await token('alice', 'eng,approvers');
    const psql = heldPsql(alice, `UPDATE orders SET note = 'customer ssn ${SSN}' WHERE id = 1`, { PGOPTIONS: '-c warden.justification=OPS-1234\\ refund\\ for\\ ana@example.com' });
    const id = await psql.held;
    const posted = await slack.waitForWebhookPost((message) => JSON.stringify(message).includes(id));
    const text = JSON.stringify(posted);
    assert.match(text, /order notes are evidence; two DBAs must agree/);
    assert.match(text, /OPS-1234 refund for \[masked:email\]/, 'the justification from PGOPTIONS is shown, masked');
    assert.ok(!text.includes('ana@example.com'));
    assert.ok(!text.includes(SSN), 'the command is shown masked');
    assert.match(text, /UPDATE orders SET note =/);

    const first = await click({ userId: 'U0BOB', approvalId: id, decision: 'approve', reason: 'refund confirmed' });
    assert.equal(first.status, 200);
    const update = await slack.waitForResponse((response) => JSON.stringify(response.body).includes('1 of 2'));
    assert.match(JSON.stringify(update.body), /bob/);
    const bobToken = await token('bob', 'dba');
    assert.equal((await status(id, bobToken)).status, 'pending', 'one of two is not enough');

    const carol = await warden.cli(['approve', id, '--reason', 'checked the ticket', '--token', await token('carol', 'dba')]);
    assert.equal(carol.code, 0, carol.stderr);
    assert.match(carol.stdout, /approved/);
    const result = await psql.done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /NOTICE: {2}Warden: waiting for approval apr_/);
    assert.match(result.stdout, /UPDATE 1/);
    assert.equal(await db.sql('SELECT note FROM orders WHERE id = 1', db.database), `customer ssn ${SSN}`);
    // The setting never reached the server.
    assert.equal(await db.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%warden.justification%' AND pid <> pg_backend_pid()", db.database), '0');

    const about = (await entries()).filter((entry) => entry.data.approval === id);
    assert.deepEqual(
      about.map((entry) => [entry.type, entry.data.decision ?? entry.data.status ?? null]),
      [
        ['command', 'approval'],
        ['approval.requested', null],
        ['approval.decided', 'approve'],
        ['approval.decided', 'approve'],
        ['command', 'allow'],
      ],
    );
    const decided = about.filter((entry) => entry.type === 'approval.decided');
    assert.deepEqual(
      decided.map((entry) => [(entry.data.approver as { sub: string }).sub, entry.data.reason, entry.data.via]),
      [
        ['bob', 'refund confirmed', 'slack'],
        ['carol', 'checked the ticket', 'cli'],
      ],
    );
    assert.ok(about.every((entry) => entry.session === about[0]!.session && entry.identity.sub === 'alice'));
    assert.ok(!JSON.stringify(about).includes(SSN), 'no entry holds the raw value');
    assert.ok(!JSON.stringify(await entries()).includes('ana@example.com'), 'nor the justification\'s email');
  });

  it('fails the held statement with 42501 and the reason when an approver denies; Deny without a reason asks for one', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'alice', database: 'app', password: await token('alice', 'eng') });
    await client.connect();
    try {
      const notices: string[] = [];
      client.on('notice', (notice) => notices.push(notice.message ?? ''));
      const query = client.query('DELETE FROM orders');
      const id = await waitFor(() => /apr_[\w-]+/.exec(notices.join(' '))?.[0]);
      const noReason = await click({ userId: 'U0BOB', approvalId: id, decision: 'deny' });
      assert.equal(noReason.status, 200);
      await slack.waitForResponse((response) => /Denying needs a reason/.test(JSON.stringify(response.body)));
      assert.equal((await status(id, await token('bob', 'approvers'))).status, 'pending');
      await click({ userId: 'U0BOB', approvalId: id, decision: 'deny', reason: 'not during the sale' });
      await assert.rejects(query, (error: pg.DatabaseError) => error.code === '42501' && /denied by bob: not during the sale/.test(error.message));
      assert.equal(await db.sql('SELECT count(*) FROM orders', db.database), '2');
      // The session goes on.
      assert.equal((await client.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 2);
    } finally {
      await client.end();
    }
  });

  it('refuses self-approval, approval through the chain, non-approvers and unlinked Slack users', async () => {
    const alice = await token('alice', 'eng,approvers');
    const agent = await warden.cli(['exchange', '--token', alice, '--as', 'agent-7', '--why', 'nightly cleanup job']);
    assert.equal(agent.code, 0, agent.stderr);
    const psql = heldPsql(agent.stdout.trim(), 'DELETE FROM orders');
    const id = await psql.held;

    const self = await warden.cli(['approve', id, '--reason', 'my own agent', '--token', alice]);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /alice is in the requester's chain \(alice ← agent-7\) and cannot approve/);
    const viaSlack = await click({ userId: 'U0ALICE', approvalId: id, decision: 'approve', reason: 'me' });
    assert.equal(viaSlack.status, 200);
    await slack.waitForResponse((response) => /did not count your click: alice is in the requester's chain/.test(JSON.stringify(response.body)));
    const dave = await warden.cli(['approve', id, '--reason', 'sure', '--token', await token('dave', 'eng')]);
    assert.equal(dave.code, 1);
    assert.match(dave.stderr, /dave is not in an approver group for this request \(approvers\)/);
    await click({ userId: 'U0NOBODY', approvalId: id, decision: 'approve' });
    await slack.waitForResponse((response) => /U0NOBODY is not linked to a Warden identity/.test(JSON.stringify(response.body)));
    await click({ userId: 'U0MALLORY', approvalId: id, decision: 'approve' });
    await slack.waitForResponse((response) => /mallory is not in an approver group/.test(JSON.stringify(response.body)));
    const view = await status(id, alice);
    assert.deepEqual(view.decisions, [], 'nothing was counted');
    assert.equal(view.justification, 'nightly cleanup job', 'the justification the agent token carries');

    // Cancelling the query (Ctrl-C in psql sends a CancelRequest) stops the wait.
    psql.child.kill('SIGINT');
    const result = await psql.done;
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /canceling statement due to user request/);
    assert.equal(await db.sql('SELECT count(*) FROM orders', db.database), '2');
  });

  it('refuses forged, stale and replayed Slack callbacks without counting them', async () => {
    const psql = heldPsql(await token('alice', 'eng'), 'DELETE FROM orders');
    const id = await psql.held;
    const forged = await click({ userId: 'U0BOB', approvalId: id, decision: 'approve', reason: 'x', signingSecret: 'not-the-secret' });
    assert.equal(forged.status, 401);
    assert.match(((await forged.json()) as { message: string }).message, /does not match the body/);
    const stale = await click({ userId: 'U0BOB', approvalId: id, decision: 'approve', reason: 'x', timestamp: Math.floor(Date.now() / 1000) - 400 });
    assert.equal(stale.status, 401);
    assert.match(((await stale.json()) as { message: string }).message, /stale/);
    const { body, headers } = slack.signedInteraction({ signingSecret: SIGNING_SECRET, userId: 'U0BOB', approvalId: id, decision: 'deny', reason: 'first' });
    const tampered = await send(body.replace('deny', 'approve'), headers);
    assert.equal(tampered.status, 401);
    assert.equal((await send(body, headers)).status, 200);
    const replay = await send(body, headers);
    assert.equal(replay.status, 401);
    assert.match(((await replay.json()) as { message: string }).message, /already received once/);
    const record = await status(id, await token('bob', 'approvers'));
    assert.equal(record.status, 'denied');
    assert.equal(record.decisions.length, 1, 'the genuine click counted once');
    const result = await psql.done;
    assert.match(result.stderr, /denied by bob: first/);
  });
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
