/**
 * End to end: the web console in Chromium (playwright-core driving Debian's /usr/bin/chromium)
 * against `warden up` with a real PostgreSQL, a real sshd and a real OpenID provider. People
 * sign in with a Warden token or with OIDC (authorization code + PKCE), list and filter
 * sessions, replay a recorded SSH shell in asciinema-player and a SQL session as a timeline,
 * and approve a held psql statement, which then completes. Auditors read but cannot decide;
 * people in no reader group are refused sessions. The browser may reach loopback only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';
import { freePort, startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { gatewayLoginOptions, startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { spawnPsql } from '../helpers/psql-client.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const CARD = '4111 1111 1111 1111';
const CONSOLE_CLIENT = 'warden-console';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

describe('the web console in Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (CI installs the chromium package)` }, () => {
  let db: TestPostgres;
  let sshd: TestSshd;
  let oidc: TestOidcProvider;
  let warden: RunningTestWarden;
  let context: BrowserContext;
  let dir: string;
  let apiUrl: string;
  let askpass: string;
  let knownHosts: string;
  /** Requests the browser tried to send off loopback (all refused), and what pages logged as errors. */
  const blocked: { url: string; from: string }[] = [];
  const pageErrors: string[] = [];

  const token = async (name: string, groups: string) => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  /** psql running each of `sql` (one -c each); `held` resolves with the approval id once Warden's notice arrives. */
  const psql = (password: string, sql: string | string[], env: Record<string, string> = {}) =>
    spawnPsql({ bindir: db.bindir, port: warden.proxyPort, user: 'psql-user', database: 'app' }, password, ['-t', ...(Array.isArray(sql) ? sql : [sql]).flatMap((statement) => ['-c', statement])], env);
  /** An interactive shell through the gateway (ssh -tt), typing `input`. */
  const shell = (password: string, input: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        '/usr/bin/ssh',
        [
          ...gatewayLoginOptions(warden.sshPort, knownHosts),
          '-tt',
          'host@127.0.0.1',
        ],
        { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_TEST_TOKEN: password } },
      );
      let stderr = '';
      child.stdout.resume();
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
      child.stdin.end(input);
    });

  /** A fresh tab (its own sessionStorage: its own sign-in) on the console. */
  const openConsole = async (hash = ''): Promise<Page> => {
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    await page.goto(`${apiUrl}/console${hash}`);
    return page;
  };
  const signInWithToken = async (wardenToken: string, hash = ''): Promise<Page> => {
    const page = await openConsole(hash);
    await page.getByTestId('token-input').fill(wardenToken);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('whoami').waitFor();
    return page;
  };
  const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent()) ?? '';

  before(async () => {
    db = await startTestPostgres();
    await db.sql(
      `CREATE TABLE customers (id int PRIMARY KEY, email text); INSERT INTO customers VALUES (1, 'ana@example.com'), (2, 'bo@example.org');
       CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'a'), (2, 'b');
       ALTER TABLE customers OWNER TO ${db.user}; ALTER TABLE orders OWNER TO ${db.user};`,
      db.database,
    );
    sshd = await startTestSshd();
    dir = await mkdtemp(join(tmpdir(), 'warden-console-'));
    askpass = join(dir, 'askpass.sh');
    await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$WARDEN_TEST_TOKEN"\n');
    await chmod(askpass, 0o700);
    await writeFile(join(dir, 'policies.cedar'), `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}\n@id("shells") permit (principal, action == Warden::Action::"ssh:shell", resource);\n`);

    // The provider must know the console's redirect URI, so the control plane's port is chosen first.
    const controlPlanePort = await freePort();
    oidc = await startOidcProvider([], [{ account: 'olga', groups: ['auditors'] }], {
      browserClients: [{ id: CONSOLE_CLIENT, redirectUris: [`http://127.0.0.1:${controlPlanePort}/console/callback`] }],
    });
    warden = await startTestWarden(
      {
        controlPlane: { listen: { host: '127.0.0.1', port: controlPlanePort } },
        connections: {
          app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' },
          host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey },
        },
        policy: { file: join(dir, 'policies.cedar') },
        identity: { devIssuer: true, issuers: [{ issuer: oidc.issuer, audience: CONSOLE_CLIENT }] },
        console: { readers: ['auditors'], approvers: ['approvers'], oidc: { issuer: oidc.issuer, clientId: CONSOLE_CLIENT } },
      },
      { TEST_APP_PASSWORD: db.password },
    );
    const running = await warden.running();
    apiUrl = running.controlPlaneUrl;
    assert.ok(running.ssh, 'warden up reports the SSH gateway');
    knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${running.ssh.port} ${running.ssh.hostKey}\n`);

    // Something to look at: a SQL session whose results are masked, and a recorded shell.
    const select = psql(await token('carol', 'eng'), ['SELECT id, email FROM customers ORDER BY id', 'DROP TABLE customers', 'SELECT count(*) FROM orders']);
    const selected = await select.done;
    assert.match(selected.stdout, /\[masked:email\]/, `psql itself sees masked values: ${selected.stderr}`);
    assert.match(selected.stderr, /schema changes go through migrations/, 'the DROP is denied');
    const shellRun = await shell(await token('bob', 'eng'), `echo typed ${CARD}\nexit\n`);
    assert.equal(shellRun.code, 0, shellRun.stderr);
    await warden.ledger(); // integrate everything, so the sessions are readable

    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || LOOPBACK.has(url.hostname)) return route.continue();
      blocked.push({ url: url.href, from: route.request().frame().url() });
      return route.abort('blockedbyclient');
    });
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    await context?.close();
    await warden?.stop();
    await oidc?.close();
    await sshd?.stop();
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the console from the control plane with a strict Content-Security-Policy', async () => {
    const index = await fetch(`${apiUrl}/console`);
    assert.equal(index.status, 200);
    const csp = index.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
    assert.match(csp, /style-src 'self';/);
    assert.ok(csp.includes(`connect-src 'self' ${oidc.issuer};`), `connect-src names the configured issuer: ${csp}`);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(index.headers.get('cache-control'), 'no-store');
    assert.match(await index.text(), /<script type="module" src="\/console\/assets\/main\.js">/);
    const script = await fetch(`${apiUrl}/console/assets/main.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    const etag = script.headers.get('etag') ?? '';
    assert.ok(etag.length > 10, 'assets carry an ETag');
    assert.equal((await fetch(`${apiUrl}/console/assets/main.js`, { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await fetch(`${apiUrl}/console/assets/nothing.js`)).status, 404);
    assert.equal((await fetch(`${apiUrl}/console/callback?code=x`)).status, 200, 'the OIDC return path is a page of the app');
    assert.deepEqual(await (await fetch(`${apiUrl}/v1/console/config`)).json(), { oidc: { issuer: oidc.issuer, clientId: CONSOLE_CLIENT, scope: 'openid groups' } });
  });

  it('signs an auditor in with a Warden token, shows who they are and what they may do, and lists and filters sessions', async () => {
    const page = await signInWithToken(await token('audrey', 'auditors'));
    assert.equal(await text(page, 'whoami-sub'), 'audrey');
    assert.match(await text(page, 'whoami-may'), /may read sessions and the ledger$/);
    assert.equal(await page.getByRole('link', { name: 'Approvals' }).count(), 0, 'no Approvals page for an auditor');
    await page.getByTestId('sessions-table').waitFor();
    const all = await text(page, 'sessions-table');
    assert.match(all, /carol/);
    assert.match(all, /bob/);

    await page.getByTestId('filter-identity').fill('bob');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/#\/sessions\?identity=bob$/);
    await page.getByTestId('sessions-table').waitFor();
    const bobs = await text(page, 'sessions-table');
    assert.match(bobs, /bob/);
    assert.doesNotMatch(bobs, /carol/, 'the identity filter leaves carol out');
    assert.match(bobs, /recorded/, 'the shell session is marked as recorded');

    await page.goto(`${apiUrl}/console#/sessions?connection=app`);
    await page.getByTestId('sessions-table').waitFor();
    const app = await text(page, 'sessions-table');
    assert.match(app, /carol/);
    assert.doesNotMatch(app, /bob/, 'the connection filter leaves the SSH session out');

    const future = new Date(Date.now() + 3_600_000).toISOString();
    await page.goto(`${apiUrl}/console#/sessions?from=${encodeURIComponent(future)}`);
    await page.getByText('No session matches.').waitFor();
    await page.close();
  });

  it('opens the recorded SSH shell and replays it in asciinema-player, masked', async () => {
    const page = await signInWithToken(await token('audrey', 'auditors'), '#/sessions?identity=bob');
    await page.getByTestId('session-link').first().click();
    await page.getByTestId('command-timeline').waitFor();
    assert.match(await text(page, 'session-facts'), /ssh/);
    await page.getByTestId('replay').click();
    const player = page.getByTestId('player');
    // The terminal the player draws: its text is the recording's output as it plays.
    const terminal = player.locator('.ap-term');
    await terminal.filter({ hasText: /typed/ }).waitFor({ timeout: 20_000 });
    await terminal.filter({ hasText: /\[masked:credit-card/ }).waitFor({ timeout: 20_000 });
    const shown = (await player.textContent()) ?? '';
    assert.ok(!shown.includes(CARD) && !shown.includes(CARD.replaceAll(' ', '')), 'the replay shows the masked recording, never the card number');
    assert.ok((await page.locator('[data-testid=player] .ap-player').count()) === 1, 'asciinema-player rendered its player');
    await page.close();
  });

  it('opens a SQL session as a timeline of statements with decisions, results and masking counts', async () => {
    const page = await signInWithToken(await token('audrey', 'auditors'), '#/sessions?identity=carol');
    await page.getByTestId('session-link').first().click();
    await page.getByTestId('sql-timeline').waitFor();
    const statement = page.getByTestId('statement').filter({ hasText: 'FROM customers' });
    await statement.waitFor();
    assert.match((await statement.textContent()) ?? '', /allow/);
    const result = await text(page, 'result');
    assert.match(result, /Rows\s*2/);
    assert.match(result, /email: 2/);
    assert.match(await text(page, 'masked-counts'), /email\s*2/);
    const denied = page.getByTestId('statement').filter({ hasText: 'DROP TABLE customers' });
    assert.match((await denied.textContent()) ?? '', /deny.*schema changes go through migrations/s, 'the denied statement shows its decision and reason');
    assert.equal(await page.getByTestId('command').count(), 3, 'three statements on the timeline');
    await page.getByTestId('timeline-replay').click();
    await page.getByTestId('timeline-status').filter({ hasText: /^replayed 3 steps$/ }).waitFor({ timeout: 15_000 });
    await page.close();
  });

  it('approves a held psql statement in the browser, with a reason, and psql completes with its rows; the refusals are shown', async () => {
    const alice = await token('alice', 'eng,approvers');
    const held = psql(alice, 'DELETE FROM orders RETURNING id', { PGOPTIONS: '-c warden.justification=OPS-77\\ cleanup' });
    const id = await held.held;

    // An auditor reads but does not decide: no Approve button, and the API refuses a decision.
    const auditor = await signInWithToken(await token('audrey', 'auditors'), '#/approvals');
    await auditor.getByRole('heading', { name: 'Pending approvals' }).waitFor();
    assert.equal(await auditor.getByTestId('approve').count(), 0, 'an auditor sees no Approve button');
    // The auditor's own tab, with its own token, tries anyway.
    const refusal = (await auditor.evaluate(`(async () => {
      const response = await fetch('/v1/approvals/${id}/approve', {
        method: 'POST',
        headers: { authorization: 'Bearer ' + sessionStorage.getItem('warden.console.token'), 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'I am only an auditor' }),
      });
      return { status: response.status, body: await response.json() };
    })()`)) as { status: number; body: { message?: string } };
    assert.ok(refusal.status === 403 || refusal.status === 404, `the API refuses the auditor's decision: ${JSON.stringify(refusal)}`);
    await auditor.goto(`${apiUrl}/console#/approvals/${id}`);
    await auditor.getByRole('alert').filter({ hasText: 'Warden refused' }).waitFor();
    await auditor.close();

    // The requester is an approver too, but nobody in the chain may approve their own command: the API's reason is shown.
    const own = await signInWithToken(alice, '#/approvals');
    const ownCard = own.locator(`[data-approval="${id}"]`);
    await ownCard.getByTestId('approve').click();
    await ownCard.getByTestId('reason').fill('my own');
    await ownCard.getByTestId('confirm').click();
    const ownRefusal = ownCard.getByRole('alert');
    await ownRefusal.waitFor();
    assert.match((await ownRefusal.textContent()) ?? '', /Warden refused: .*(chain|own|requester)/i);
    await own.close();

    const page = await signInWithToken(await token('dave', 'approvers'), '#/approvals');
    assert.match(await text(page, 'whoami-may'), /decide approvals/);
    const card = page.locator(`[data-approval="${id}"]`);
    await card.waitFor();
    assert.equal(await card.getByTestId('approval-command').textContent(), 'DELETE FROM orders RETURNING id');
    assert.match((await card.getByTestId('approval-requester').textContent()) ?? '', /^alice/);
    assert.equal(await card.getByTestId('approval-justification').textContent(), 'OPS-77 cleanup');
    await card.getByTestId('approve').click();
    await card.getByTestId('reason').fill('checked OPS-77');
    await card.getByTestId('confirm').click();
    await card.getByTestId('decided').waitFor();
    assert.match((await card.getByTestId('decided').textContent()) ?? '', /^approved: approved by dave \(checked OPS-77\)/);

    const done = await held.done;
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(done.stdout.trim().split('\n').slice(0, 2).sort(), ['1', '2'], `psql prints the deleted rows: ${done.stdout}`);
    assert.equal(await db.sql('SELECT count(*) FROM orders', db.database), '0');
    await page.close();
  });

  it('refuses sessions to a person in no reader group, and shows the API refusal', async () => {
    const page = await signInWithToken(await token('mallory', 'eng'));
    assert.match(await text(page, 'whoami-may'), /may do nothing here/);
    assert.equal(await page.getByRole('link', { name: 'Sessions' }).count(), 0, 'no Sessions page for a non-reader');
    await page.goto(`${apiUrl}/console#/sessions`);
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /Warden refused: mallory is not in a console reader group/);
    assert.equal(await page.getByTestId('sessions-table').count(), 0, 'no session is listed');
    await page.goto(`${apiUrl}/console#/ledger`);
    await page.getByRole('alert').filter({ hasText: 'not in a console reader group' }).waitFor();
    // Everyone signed in sees their own grants.
    await page.getByRole('link', { name: 'Grants' }).click();
    await page.getByText('You hold no grant.').waitFor();
    await page.close();
  });

  it('signs in with OpenID Connect (authorization code + PKCE) and shows the ledger status', async () => {
    const page = await openConsole('#/ledger');
    await page.getByTestId('oidc-sign-in').click();
    // The provider's development login form, then its consent screen.
    await page.waitForURL((url) => url.href.startsWith(oidc.issuer));
    await page.locator('input[name=login]').fill('olga');
    await page.locator('input[name=password]').fill('any');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    // Back at /console/callback: the console redeems the code with its PKCE verifier, exchanges the ID token, and returns to the page it started from.
    await page.waitForURL(`${apiUrl}/console#/ledger`, { timeout: 15_000 });
    await page.getByTestId('whoami').waitFor();
    assert.equal(await text(page, 'whoami-sub'), 'olga');
    assert.match(await text(page, 'whoami-may'), /read sessions/);
    assert.ok(!page.url().includes('code='), 'the authorization code does not stay in the address bar');
    await page.getByTestId('ledger-verdict').waitFor();
    assert.match(await text(page, 'ledger-verdict'), /^Verified/);
    assert.ok(Number(await text(page, 'tree-size')) > 0, 'the tree has entries');
    assert.match(await text(page, 'verifier-key'), /\+/);
    await page.close();
  });

  it('asked for nothing off loopback, and no console page logged an error other than the refusals the tests caused', () => {
    // The provider's own login page asks for a web font (refused); the console itself asks for nothing outside.
    const fromConsole = blocked.filter((request) => request.from.startsWith(`${apiUrl}/console`));
    assert.deepEqual(fromConsole, [], 'every request of the console stayed on loopback');
    const unexpected = pageErrors.filter((error) => error.startsWith(`${apiUrl}/console`) && !/status of (401|403|404)/.test(error));
    assert.deepEqual(unexpected, [], 'no script error and no Content-Security-Policy violation');
  });
});
