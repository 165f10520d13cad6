/**
 * Reliability: hostile HTTP against the running `warden up` control plane. Oversized bodies
 * get 413, wrong types and missing fields 400 naming the field, malformed paths 400, path
 * traversal (console assets, export destinations) a refusal that reads and writes nothing;
 * forged, stale, replayed or misdirected Slack callbacks are refused and change no approval.
 * After every attack the API still answers a normal request and a PostgreSQL session still works.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Agent, createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { routes } from '../../functions/routes.js';
import { startFakeSlack, type FakeSlack } from '../helpers/fake-slack.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { parse, stringify } from 'yaml';
import { runCli, startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { send, type RawAnswer, type RawRequest } from './lib/hostile-http.js';
import { SteadySession } from './lib/hostile-steady-session.js';

const SIGNING_SECRET = 'hostile-slack-signing-secret';
const OVER_LIMIT = Buffer.alloc(1_048_576 + 512 * 1024, 0x61);
const TOKEN_EXCHANGE = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' };

describe('hostile HTTP against warden up', () => {
  let db: TestPostgres;
  let slack: FakeSlack;
  let warden: RunningTestWarden;
  let steady: SteadySession;
  let api: string;
  let s3Requests = 0;
  let fakeS3: Server;
  let exportDir: string;
  const sent: Record<string, number> = {};

  const token = async (name: string, groups: string) => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  /** One hostile request of `kind`, then proof that the API and the data path still serve. */
  const hostile = async (kind: string, path: string, options: RawRequest = {}): Promise<RawAnswer> => {
    sent[kind] = (sent[kind] ?? 0) + 1;
    const answer = await send(api, path, options);
    assert.notEqual(answer.status, 500, `${kind} ${path}: ${answer.text}`);
    const normal = await send(api, '/.well-known/jwks.json');
    assert.equal(normal.status, 200, `the API answers a normal request after ${kind} ${path}`);
    return answer;
  };
  const json = (body: unknown, headers: Record<string, string> = {}): RawRequest => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const message = (answer: RawAnswer) => String(answer.json?.message ?? answer.json?.error_description ?? answer.text);

  before(async () => {
    db = await startTestPostgres();
    await db.sql(`CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2); ALTER TABLE orders OWNER TO ${db.user};`, db.database);
    slack = await startFakeSlack();
    // Counts every request an export might make to S3: a refused destination must make none.
    fakeS3 = createServer((request, response) => {
      s3Requests += 1;
      request.resume();
      response.writeHead(500).end();
    });
    await new Promise<void>((resolve) => fakeS3.listen(0, '127.0.0.1', resolve));
    exportDir = await mkdtemp(join(tmpdir(), 'warden-hostile-export-'));
    warden = await startTestWarden(
      {
        connections: { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' } },
        approvals: {
          slack: {
            webhookUrlEnv: 'TEST_SLACK_WEBHOOK',
            signingSecretEnv: 'TEST_SLACK_SECRET',
            responseUrlPrefix: slack.responseUrlPrefix,
            users: { U0BOB: { sub: 'bob', groups: ['approvers'] }, U0EVE: { sub: 'eve', groups: ['eng'] } },
          },
        },
        evidence: { export: { s3: { bucket: 'evidence-bucket', endpoint: `http://127.0.0.1:${(fakeS3.address() as { port: number }).port}`, region: 'us-east-1', forcePathStyle: true } } },
      },
      { TEST_APP_PASSWORD: db.password, TEST_SLACK_WEBHOOK: slack.webhookUrl, TEST_SLACK_SECRET: SIGNING_SECRET, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    );
    api = (await warden.running()).controlPlaneUrl;
    steady = await SteadySession.open(warden.proxyPort, await token('steady', 'eng'));
    await steady.round('before any attack');
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    console.error(`hostile-http: requests sent by kind ${JSON.stringify(sent)}; well-behaved rounds ${steady?.rounds}`);
    await steady?.end();
    await warden?.stop();
    await slack?.close();
    await new Promise((resolve) => fakeS3?.close(resolve));
    if (exportDir) await rm(exportDir, { recursive: true, force: true });
    await db?.stop();
  });

  it('answers a body over 1 MiB on every POST route with 413 and a message, and closes that connection', async () => {
    const posts = routes.filter((route) => route.method === 'POST').map((route) => route.path.replace(/\{[^}]+\}/g, 'x'));
    for (const path of posts) {
      const answer = await hostile('oversized body', path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: OVER_LIMIT });
      assert.equal(answer.status, 413, path);
      assert.match(message(answer), /request body over 1048576 bytes/, path);
      assert.equal(answer.headers.connection, 'close', `${path}: the unread rest of the body cannot be taken for a next request`);
    }
    // A keep-alive client whose connection carried the oversized body still gets its next answer.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await send(api, '/v1/token', { method: 'POST', body: OVER_LIMIT, agent })).status, 413);
      assert.equal((await send(api, '/.well-known/jwks.json', { agent })).status, 200);
    } finally {
      agent.destroy();
    }
    await steady.round('after oversized bodies');
  });

  it('answers wrong JSON types, missing fields and non-JSON bodies with 400 naming the problem', async () => {
    const eve = await token('eve', 'eng');
    const bearer = { authorization: `Bearer ${eve}` };
    const cases: [string, RawRequest, RegExp][] = [
      ['/v1/token', json(null), /not a JSON object/],
      ['/v1/token', json([1, 2]), /expected object, received array/],
      ['/v1/token', json('text'), /not a JSON object/],
      ['/v1/token', json({ ...TOKEN_EXCHANGE }), /subject_token: .*expected string/],
      ['/v1/token', json({ ...TOKEN_EXCHANGE, subject_token: 42 }), /subject_token: .*expected string, received number/],
      ['/v1/token', json({ ...TOKEN_EXCHANGE, subject_token: 'a.b.c', audience: 5 }), /audience: .*expected array/],
      ['/v1/token', json({ ...TOKEN_EXCHANGE, grant_type: 'password', subject_token: 'a.b.c' }), /grant_type must be urn:ietf:params:oauth:grant-type:token-exchange/],
      ['/v1/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }, /the request body is not JSON/],
      ['/v1/token', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ ...TOKEN_EXCHANGE, subject_token: 'a.b.c' }) }, /grant_type must be/],
      ['/v1/grants', json({}, bearer), /connection: .*role: .*seconds: .*justification: /],
      ['/v1/grants', json({ connection: 'app', role: 'reader', seconds: '600', justification: 'x' }, bearer), /seconds: .*expected number, received string/],
      ['/v1/grants', json({ connection: 'app', role: '../../etc', seconds: 600, justification: 'x' }, bearer), /role: a role is 1 to 64 letters/],
      ['/v1/grants', { method: 'POST', headers: bearer, body: '<xml/>' }, /the request body is not JSON/],
      ['/v1/approvals/apr_x/approve', json({ reason: 5 }, bearer), /reason: .*expected string/],
      ['/v1/approvals/apr_x/approve', json({}, bearer), /reason: /],
      ['/v1/approvals/apr_x/maybe', json({ reason: 'x' }, bearer), /the decision is approve or deny/],
      ['/v1/grants/g_x/revoke', json({ reason: ['x'] }, bearer), /reason: .*expected string/],
    ];
    for (const [path, request, expected] of cases) {
      const answer = await hostile('wrong type or missing field', path, request);
      assert.equal(answer.status, 400, `${path} ${String(request.body).slice(0, 80)}: ${answer.text}`);
      assert.match(message(answer), expected, path);
    }
    await steady.round('after wrong types');
  });

  it('refuses proxy routes to anyone without the proxy key, whatever the body', async () => {
    for (const route of routes.filter((r) => r.audience === 'proxy')) {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-proxy-key' }, { authorization: `Bearer ${'k'.repeat(43)}` }];
      for (const headers of attempts) {
        const answer = await hostile('proxy route without its key', route.path.replace(/\{[^}]+\}/g, 'x'), { method: 'POST', headers, body: '{"commands":[{"sessionId":"x"}]}' });
        assert.equal(answer.status, 401, route.path);
        assert.match(message(answer), /this route is for the Warden proxy fleet only/);
      }
    }
  });

  it('answers malformed percent-encoding and unknown routes with a 4xx naming the problem', async () => {
    for (const path of ['/console/%E0%A4%A', '/v1/approvals/%ZZ', '/v1/sessions/%C0%AF/recordings/1', '/console/assets/%']) {
      const answer = await hostile('malformed path', path);
      assert.equal(answer.status, 400, `${path}: ${answer.text}`);
      assert.match(message(answer), /malformed percent-encoding/);
    }
    for (const [method, path] of [['PUT', '/v1/token'], ['DELETE', '/v1/grants/x'], ['GET', '/v1/nope'], ['GET', '/v1/token/../../etc/passwd']] as const) {
      const answer = await hostile('unknown route', path, { method });
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.match(message(answer), /no route/);
    }
  });

  it('serves no file through traversal in console paths, recording, approval and grant ids, or a bad query', async () => {
    const escapes = ['/console/..%2f..%2fpackage.json', '/console/assets/..%2f..%2fpackage.json', '/console/assets/%2e%2e/%2e%2e/package.json', '/console/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/console/assets/..%5c..%5cpackage.json', '/console/assets/%00../package.json'];
    for (const path of escapes) {
      const answer = await hostile('console path traversal', path);
      assert.equal(answer.status, 404, `${path}: ${answer.status}`);
      // The adapter's URL parser resolves %2e%2e like ..; either way, nothing is served.
      assert.match(message(answer), /no console file|no route GET \/package\.json/, path);
      assert.doesNotMatch(answer.text, /"dependencies"|root:x:0:0/, `${path} read no file`);
    }
    const auditor = await token('audrey', 'auditors');
    const ids: [string, number, RegExp][] = [
      ['/v1/sessions/..%2f..%2f..%2fetc%2fpasswd/recordings/1', 404, /no recording of command 1/],
      ['/v1/sessions/x/recordings/..%2f..%2fkeys%2ftoken-signing.jwk', 400, /is not a number/],
      ['/v1/approvals/..%2f..%2fkeys%2ftoken-signing.jwk', 404, /no approval request/],
      ['/v1/grants/..%2f..%2fstore', 404, /grant/],
      ['/v1/sessions?limit=abc&from=yesterday', 400, /invalid query: from: Invalid ISO datetime; limit: /],
    ];
    for (const [path, status, expected] of ids) {
      const answer = await hostile('traversal in an id or query', path, { headers: { authorization: `Bearer ${auditor}` } });
      assert.equal(answer.status, status, `${path}: ${answer.text}`);
      assert.match(message(answer), expected, path);
      assert.doesNotMatch(answer.text, /root:x:0:0|"d":"/, `${path} read no file`);
    }
  });

  it('refuses export destinations that climb out of their place, before any work and with no S3 request', async () => {
    const cases: [string[], RegExp][] = [
      [['--s3', 's3://evidence-bucket/../x'], /has an empty, "\." or "\.\." segment/],
      [['--s3', 's3://evidence-bucket/a/../../b'], /has an empty, "\." or "\.\." segment/],
      [['--s3', 's3://evidence-bucket/./x'], /has an empty, "\." or "\.\." segment/],
      [['--s3', 's3://evidence-bucket//x'], /has an empty, "\." or "\.\." segment/],
      [['--s3', 's3://../x'], /is not an S3 bucket name/],
      [['--s3', 'file:///etc/passwd'], /is not an S3 URL/],
      [['--out', join(exportDir, 'no-such-dir', '..', '..', 'missing', 'bundle.tar.gz')], /no such file or directory|ENOENT|cannot write/i],
    ];
    for (const [destination, expected] of cases) {
      sent['export destination'] = (sent['export destination'] ?? 0) + 1;
      const result = await warden.cli(['export', '--from', '1h', ...destination]);
      assert.notEqual(result.code, 0, destination.join(' '));
      assert.match(result.stderr, expected, destination.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, `${destination.join(' ')}: an error message, not a stack trace`);
    }
    // The same rule holds for the configured prefix of scheduled exports.
    const config = parse(await readFile(warden.configPath, 'utf8')) as { evidence: { export: { s3: Record<string, unknown> } } };
    config.evidence.export.s3.prefix = 'warden/../../other/';
    const badConfig = join(warden.dir, 'climbing-prefix.yaml');
    await writeFile(badConfig, stringify(config));
    sent['export destination'] = (sent['export destination'] ?? 0) + 1;
    const refused = await runCli(['--config', badConfig, 'export', '--from', '1h', '--s3', 's3://evidence-bucket/ok']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /evidence\.export\.s3\.prefix: no empty, "\." or "\.\." segments in the prefix/);
    assert.equal(s3Requests, 0, 'no refused destination reached S3');
    assert.deepEqual(await readdir(exportDir), [], 'nothing was written');
    await steady.round('after export attempts');
  });

  describe('Slack callbacks', () => {
    let held: pg.Client;
    let heldQuery: Promise<unknown>;
    let approvalId: string;
    let bob: string;
    const interactions = (body: string | Buffer, headers: Record<string, string>) => hostile('Slack callback', '/v1/slack/interactions', { method: 'POST', headers, body });
    const deliver = ({ body, headers }: { body: string; headers: Record<string, string> }) => interactions(body, headers);
    const click = (options: { userId?: string; signingSecret?: string; timestamp?: number; decision?: 'approve' | 'deny'; reason?: string }) =>
      slack.signedInteraction({ signingSecret: SIGNING_SECRET, userId: 'U0BOB', approvalId, decision: 'approve', ...options });
    /** A body signed correctly, whatever it holds: only the signature is genuine. */
    const signed = (body: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
      return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature } };
    };
    const approval = async () => (await send(api, `/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${bob}` } })).json as { status: string; decisions: unknown[] };

    before(async () => {
      bob = await token('bob', 'approvers');
      held = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'alice', database: 'app', password: await token('alice', 'eng') });
      await held.connect();
      const notices: string[] = [];
      held.on('notice', (notice) => notices.push(notice.message ?? ''));
      heldQuery = held.query('DELETE FROM orders').catch((error: unknown) => error);
      for (let tries = 0; !/apr_[\w-]+/.test(notices.join(' ')); tries++) {
        assert.ok(tries < 200, 'the DELETE is held for approval');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      approvalId = /apr_[\w-]+/.exec(notices.join(' '))![0];
    });

    after(async () => {
      await held?.end().catch(() => undefined);
    });

    it('refuses unsigned, forged, stale, future, resigned and oversized callbacks with 401 or 413, counting none', async () => {
      const genuine = click({});
      const other = click({ decision: 'deny', reason: 'other body' });
      const forged = click({ signingSecret: 'not-the-secret' });
      const stale = click({ timestamp: Math.floor(Date.now() / 1000) - 360 });
      const future = click({ timestamp: Math.floor(Date.now() / 1000) + 360 });
      const cases: [string, string | Buffer, Record<string, string>, number, RegExp][] = [
        ['no signature headers', genuine.body, { 'content-type': 'application/x-www-form-urlencoded' }, 401, /no X-Slack-Request-Timestamp header/],
        ['no signature', genuine.body, { ...genuine.headers, 'x-slack-signature': '' }, 401, /no X-Slack-Signature header/],
        ['another secret', forged.body, forged.headers, 401, /does not match the body/],
        ['stale by 6 minutes', stale.body, stale.headers, 401, /stale: signed \d+ s ago/],
        ['6 minutes in the future', future.body, future.headers, 401, /in the future/],
        ['a timestamp that is no number', genuine.body, { ...genuine.headers, 'x-slack-request-timestamp': '1e9' }, 401, /not a Unix time/],
        ['a valid signature over another body', other.body, genuine.headers, 401, /does not match the body/],
        ['a truncated signature', genuine.body, { ...genuine.headers, 'x-slack-signature': genuine.headers['x-slack-signature']!.slice(0, 40) }, 401, /not "v0=" followed by 64 hex digits/],
        ['a v1 signature', genuine.body, { ...genuine.headers, 'x-slack-signature': genuine.headers['x-slack-signature']!.replace('v0=', 'v1=') }, 401, /unknown signature scheme/],
        ['an oversized body', OVER_LIMIT, genuine.headers, 413, /request body over 1048576 bytes/],
      ];
      for (const [name, body, headers, status, expected] of cases) {
        const answer = await interactions(body, headers);
        assert.equal(answer.status, status, `${name}: ${answer.text}`);
        assert.match(message(answer), expected, name);
      }
      const record = await approval();
      assert.equal(record.status, 'pending', 'nothing was decided');
      assert.deepEqual(record.decisions, [], 'nothing was counted');
      await steady.round('after forged callbacks');
    });

    it('refuses correctly signed bodies that are not a click on a Warden approval with 400', async () => {
      const payload = (value: unknown) => new URLSearchParams({ payload: JSON.stringify(value) }).toString();
      const base = JSON.parse(new URLSearchParams(click({}).body).get('payload')!) as Record<string, unknown>;
      const cases: [string, string, RegExp][] = [
        ['no payload field', 'text=hello', /the body has no payload field/],
        ['payload that is not JSON', 'payload=%7B%22type%22%3A', /the payload field is not JSON/],
        ['a view submission', payload({ ...base, type: 'view_submission' }), /only block_actions/],
        ['another button', payload({ ...base, actions: [{ action_id: 'escalate', value: approvalId }] }), /only the approve and deny buttons/],
        ['a response_url on another host', payload({ ...base, response_url: 'https://attacker.example/actions/x' }), /response_url is not under/],
        ['a response_url climbing out of the prefix', payload({ ...base, response_url: `${slack.responseUrlPrefix}../services/T000/B000/XXXX` }), /response_url is not under/],
        ['a user id of the wrong type', payload({ ...base, user: { id: 42 } }), /user\.id: /],
        ['the payload as a JSON body instead of a form', JSON.stringify(base), /the body has no payload field/],
      ];
      for (const [name, body, expected] of cases) {
        const answer = await deliver(signed(body));
        assert.equal(answer.status, 400, `${name}: ${answer.text}`);
        assert.match(message(answer), expected, name);
      }
      const record = await approval();
      assert.equal(record.status, 'pending', 'nothing was decided');
      assert.deepEqual(record.decisions, [], 'nothing was counted');
    });

    it('counts no click by a Slack user who is not an approver, tells them why, and refuses a replay of a genuine click', async () => {
      for (const userId of ['U0NOBODY', 'U0EVE']) {
        const answer = await deliver(click({ userId }));
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.json?.ok, false, userId);
      }
      await slack.waitForResponse((response) => /U0NOBODY is not linked to a Warden identity/.test(JSON.stringify(response.body)));
      await slack.waitForResponse((response) => /eve is not in an approver group/.test(JSON.stringify(response.body)));
      assert.deepEqual((await approval()).decisions, [], 'neither click counted');

      const genuine = click({ decision: 'deny', reason: 'not during the sale' });
      assert.equal((await interactions(genuine.body, genuine.headers)).status, 200);
      const replay = await interactions(genuine.body, genuine.headers);
      assert.equal(replay.status, 401);
      assert.match(message(replay), /already received once; a replay is refused/);
      const record = await approval();
      assert.equal(record.status, 'denied');
      assert.equal(record.decisions.length, 1, 'the genuine click counted once');
      const refused = (await heldQuery) as { code?: string };
      assert.equal(refused.code, '42501');
      assert.equal(await db.sql('SELECT count(*) FROM orders', db.database), '2', 'the held DELETE never ran');
      await steady.round('after the Slack attacks');
    });
  });

  it('afterwards: every well-behaved statement is in the ledger and warden verify passes', async () => {
    await steady.round('at the end');
    const entries = (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);
    assert.deepEqual(steady.missingFrom(entries), []);
    const verified = await warden.cli(['verify', '--json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.doesNotMatch(warden.output(), /unhandled control-plane error|local API adapter failed/, 'no request reached an internal-error path');
  });
});
