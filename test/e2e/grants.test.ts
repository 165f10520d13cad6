/**
 * End to end: just-in-time grants through warden up and a real PostgreSQL. Policy starts a
 * short grant at once and holds a long one for approval; a grant's role is enforced at
 * session start and on every command; sessions end when their grant expires or is revoked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import type { GrantView } from '../../functions/lib/grant-view.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const POLICY = `
@id("read") permit (principal, action == Warden::Action::"sql:select", resource);
@id("writers-update") permit (principal in Warden::Role::"writer", action == Warden::Action::"sql:update", resource);
@id("grants-may-be-requested") permit (principal, action == Warden::Action::"grant:request", resource);
@id("long-grants-need-approval")
@approval("grants longer than an hour need a person")
forbid (principal, action == Warden::Action::"grant:request", resource) when { context.seconds > 3600 };
@id("no-admin-role")
@reason("the admin role is never granted")
forbid (principal, action == Warden::Action::"grant:request", resource) when { context.role == "admin" };
`;

describe('just-in-time grants through warden up', () => {
  let db: TestPostgres;
  let warden: RunningTestWarden;
  let dir: string;

  const token = async (name: string, groups = 'eng') => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const connect = async (password: string) => {
    const client = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'alice', database: 'app', password });
    // The gateway ends sessions with a FATAL error; keep it for the test instead of crashing on it.
    const ended = new Promise<string>((resolve) => client.on('error', (error) => resolve(error.message)));
    await client.connect();
    return { client, ended };
  };
  const update = (client: pg.Client) => client.query("UPDATE orders SET note = 'x' WHERE id = 1");
  const grantJson = async (args: string[]) => {
    const result = await warden.cli(['grant', ...args, '--json']);
    return { ...result, grant: result.stdout ? (JSON.parse(result.stdout) as GrantView) : undefined };
  };

  const entries = async () => (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);

  before(async () => {
    db = await startTestPostgres();
    await db.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'a'); ALTER TABLE orders OWNER TO ${db.user};`, db.database);
    dir = await mkdtemp(join(tmpdir(), 'warden-grants-'));
    await writeFile(join(dir, 'policies.cedar'), POLICY);
    warden = await startTestWarden(
      {
        connections: { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' } },
        policy: { file: join(dir, 'policies.cedar') },
      },
      { TEST_APP_PASSWORD: db.password },
    );
  });

  after(async () => {
    await warden?.stop();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts a short grant at once; its role is enforced; the session ends when it expires; all of it is recorded', async () => {
    const alice = await token('alice');
    const before = await connect(alice);
    await assert.rejects(update(before.client), { code: '42501' });
    await before.client.end();

    const requested = await grantJson(['request', '--connection', 'app', '--role', 'writer', '--for', '8s', '--why', 'INC-42 fix a note for ana@example.com', '--token', alice]);
    assert.equal(requested.code, 0, requested.stderr);
    assert.equal(requested.grant!.status, 'active');
    const { client, ended } = await connect(alice);
    assert.equal((await update(client)).rowCount, 1);
    const startedAt = Date.now();
    const reason = await ended;
    assert.match(reason, /Warden ended this session: the session's grant grt_\S+ \(role writer\) expired at/);
    assert.ok(Date.now() - startedAt < 15_000, 'ended within the grant time plus one status poll');
    await client.end().catch(() => undefined);

    const about = (await entries()).filter((entry) => entry.data.grant === requested.grant!.id);
    assert.deepEqual(
      about.map((entry) => entry.type),
      ['grant.requested', 'grant.approved', 'grant.activated', 'grant.expired'],
    );
    assert.equal(about[1]!.data.by, 'policy');
    assert.equal(about[0]!.data.justification, 'INC-42 fix a note for [masked:email]', 'free text is masked before it is recorded');
    const sessionStart = (await entries()).find((entry) => entry.type === 'session.start' && JSON.stringify(entry.data.grants ?? []).includes(requested.grant!.id));
    assert.ok(sessionStart, 'the session that used the grant names it');
    assert.deepEqual(sessionStart.identity.roles, ['writer']);
  });

  it('holds a long grant for an approver (request --wait), then revoking it ends the session within 5 s', async () => {
    const alice = await token('alice');
    const waiting = warden.cli(['grant', 'request', '--connection', 'app', '--role', 'writer', '--for', '2h', '--why', 'migration window', '--wait', '--token', alice]);
    const bob = await token('bob', 'approvers');
    let pending: { id: string }[] = [];
    for (let attempt = 0; attempt < 40 && pending.length === 0; attempt++) {
      const listed = await warden.cli(['approvals', '--json', '--token', bob]);
      pending = JSON.parse(listed.stdout || '[]') as { id: string }[];
      if (pending.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(pending.length, 1, 'bob sees the grant request');
    const approved = await warden.cli(['approve', pending[0]!.id, '--reason', 'change ticket CHG-9', '--token', bob]);
    assert.equal(approved.code, 0, approved.stderr);
    const requested = await waiting;
    assert.equal(requested.code, 0, requested.stderr);
    assert.match(requested.stderr, /waiting for approval apr_/);
    assert.match(requested.stdout, /active: role writer on app for 120 min/);
    const id = /(grt_\S+)/.exec(requested.stdout)![1]!;

    const { client, ended } = await connect(alice);
    assert.equal((await update(client)).rowCount, 1);
    const revoked = await grantJson(['revoke', id, '--reason', 'done early', '--token', alice]);
    assert.equal(revoked.grant!.status, 'revoked');
    const revokedAt = Date.now();
    assert.match(await ended, /grant .* was revoked: done early \(by alice\)/);
    assert.ok(Date.now() - revokedAt <= 5000, 'ended within 5 s');
    await client.end().catch(() => undefined);
    const again = await connect(alice);
    await assert.rejects(update(again.client), { code: '42501' });
    await again.client.end();

    const types = (await entries()).filter((entry) => entry.data.grant === id).map((entry) => entry.type);
    assert.deepEqual(types, ['grant.requested', 'grant.approved', 'grant.activated', 'grant.revoked']);
  });

  it('refuses what policy forbids, bad durations and other people revoking a grant', async () => {
    const alice = await token('alice');
    const admin = await grantJson(['request', '--connection', 'app', '--role', 'admin', '--for', '10m', '--why', 'please', '--token', alice]);
    assert.equal(admin.code, 1);
    assert.equal(admin.grant!.status, 'denied');
    assert.match(admin.grant!.endReason!, /the admin role is never granted/);
    const badDuration = await warden.cli(['grant', 'request', '--connection', 'app', '--role', 'writer', '--for', 'soon', '--why', 'x', '--token', alice]);
    assert.equal(badDuration.code, 2);
    assert.match(badDuration.stderr, /"soon" is not a duration; write it like 30m/);
    const tooLong = await warden.cli(['grant', 'request', '--connection', 'app', '--role', 'writer', '--for', '30d', '--why', 'x', '--token', alice]);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /a grant lasts from 5 s to 28800 s/);
    const mine = await grantJson(['request', '--connection', 'app', '--role', 'writer', '--for', '10m', '--why', 'x', '--token', alice]);
    const mallory = await warden.cli(['grant', 'revoke', mine.grant!.id, '--reason', 'mine now', '--token', await token('mallory')]);
    assert.equal(mallory.code, 1);
    assert.match(mallory.stderr, /only alice or a member of approvers may revoke/);
  });
});
