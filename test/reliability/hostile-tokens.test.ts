/**
 * Reliability: token attacks on every place `warden up` takes a token — the PostgreSQL and SSH
 * logins (the password is a Warden token), the bearer routes of the API, and POST /v1/token
 * (forged identity tokens, forged parent tokens). Unsigned, HMAC-with-the-public-key, tampered,
 * other-key-same-kid, expired, wrong-issuer, wrong-audience, revoked, truncated and megabyte
 * tokens are each refused with an error naming the cause, and none opens a session or reads
 * anything; the genuine token and a well-behaved session keep working throughout.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import ssh2 from 'ssh2';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { DevIssuer } from '../../functions/lib/dev-issuer.js';
import { loadOrCreateEcKey } from '../../functions/lib/key-files.js';
import { routes } from '../../functions/routes.js';
import { loginWire } from '../helpers/pg-wire.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { send } from './lib/hostile-http.js';
import { SteadySession } from './lib/hostile-steady-session.js';
import { forgeries, forOtherAudience, type ForgedToken } from './lib/hostile-tokens.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const EXCHANGE = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' };

/** Why each forgery of a Warden token must be refused, as the refusal says it. */
const wardenTokenRefusal: Record<string, RegExp> = {
  'alg none': /Warden token uses an algorithm this Warden does not accept/,
  'HS256 keyed with the public key': /Warden token uses an algorithm this Warden does not accept/,
  'tampered payload': /Warden token signature does not verify: it was not issued by this Warden/,
  // The signature covers the payload bytes, so it fails before the payload is read.
  'payload that is not JSON': /Warden token signature does not verify/,
  'another key with the same kid': /Warden token signature does not verify: it was not issued by this Warden/,
  expired: /Warden token expired at .*; get a new one/,
  'another issuer': /Warden token claim "iss" is invalid/,
  truncated: /Warden token signature does not verify|not a valid Warden token/,
  'signature stripped': /not a valid Warden token|signature does not verify/,
  'a megabyte long': /exceeds the limit of 65535|too big|at most|signature does not verify/,
};

/** Why each forgery of a development identity token must be refused at POST /v1/token. */
const identityTokenRefusal: Record<string, RegExp> = {
  'alg none': /identity token uses an algorithm this Warden does not accept/,
  'HS256 keyed with the public key': /identity token uses an algorithm this Warden does not accept/,
  'tampered payload': /identity token signature does not verify/,
  'payload that is not JSON': /the identity token is not a JWT/,
  'another key with the same kid': /identity token signature does not verify/,
  expired: /identity token expired at /,
  'another issuer': /tokens from issuer "https:\/\/evil\.example\/" are not accepted; configure it under identity\.issuers/,
  truncated: /identity token signature does not verify|not a valid identity token/,
  'signature stripped': /not a valid identity token|signature does not verify/,
};

describe('token attacks against warden up', () => {
  let db: TestPostgres;
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let api: string;
  let steady: SteadySession;
  let genuine: string;
  let forged: ForgedToken[];
  const sent: Record<string, number> = {};
  const count = (surface: string) => (sent[surface] = (sent[surface] ?? 0) + 1);

  const token = async (name: string, extra: string[] = []) => {
    const result = await warden.cli(['token', '--as', name, '--groups', 'auditors', ...extra]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const stateKey = async (file: string) => JSON.parse(await readFile(join(warden.dir, 'state', 'keys', file), 'utf8')) as JWK;
  const publicOf = ({ d: _private, ...publicJwk }: JWK) => publicJwk;

  /** The refusal a PostgreSQL login with `password` gets; fails if it logs in. */
  const postgresRefusal = async (password: string, database = 'app'): Promise<string> => {
    count('postgres login');
    try {
      const wire = await loginWire(warden.proxyPort, password, database, 'attacker');
      wire.socket.destroy();
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail('a forged token logged in to PostgreSQL');
  };
  /** What the SSH gateway tells a client that offers `password`; fails if it logs in. */
  const sshRefusal = (password: string, connection = 'host'): Promise<string> => {
    count('ssh login');
    const client = new ssh2.Client();
    let instructions = '';
    return new Promise((resolve, reject) => {
      client.on('keyboard-interactive', (_name, text, _lang, _prompts, finish) => {
        instructions = text;
        finish([password]);
      });
      client.once('ready', () => {
        client.end();
        reject(new Error('a forged token logged in over SSH'));
      });
      client.once('error', (error) => resolve(`${error.message}: ${instructions}`));
      client.connect({ host: '127.0.0.1', port: warden.sshPort, username: connection, password, tryKeyboard: true, hostVerifier: () => true, readyTimeout: 20_000 });
    });
  };
  const bearer = async (token: string) => {
    count('API bearer');
    return send(api, '/v1/console/whoami', { headers: { authorization: `Bearer ${token}` } });
  };
  const exchange = async (fields: Record<string, string>) => {
    count('POST /v1/token');
    return send(api, '/v1/token', { method: 'POST', headers: FORM, body: new URLSearchParams({ ...EXCHANGE, ...fields }).toString() });
  };
  const stillServing = async (after: string) => {
    await steady.round(after);
    assert.equal((await bearer(genuine)).status, 200, `the genuine token still reads the API ${after}`);
  };

  before(async () => {
    db = await startTestPostgres();
    sshd = await startTestSshd();
    const upstream = { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' };
    warden = await startTestWarden(
      { connections: { app: upstream, billing: upstream, host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey } } },
      { TEST_APP_PASSWORD: db.password },
    );
    api = (await warden.running()).controlPlaneUrl;
    genuine = await token('rita');
    const tokenKey = await stateKey('token-signing.jwk');
    forged = await forgeries(genuine, { privateJwk: tokenKey, publicJwk: publicOf(tokenKey) });
    steady = await SteadySession.open(warden.proxyPort, genuine);
    await steady.round('before any attack');
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    console.error(`hostile-tokens: attempts by surface ${JSON.stringify(sent)}; well-behaved rounds ${steady?.rounds}`);
    await steady?.end();
    await warden?.stop();
    await sshd?.stop();
    await db?.stop();
  });

  it('refuses each forged Warden token as a PostgreSQL password, naming the cause', async () => {
    for (const { name, token: password } of forged) {
      assert.match(await postgresRefusal(password), wardenTokenRefusal[name]!, name);
      await steady.round(`after a PostgreSQL login with a token that is ${name}`);
    }
  });

  it('refuses each forged Warden token as an SSH password, and says why in the keyboard-interactive prompt', async () => {
    for (const { name, token: password } of forged) {
      if (name === 'a megabyte long') continue;
      const refusal = await sshRefusal(password);
      assert.match(refusal, /All configured authentication methods failed/, name);
      assert.match(refusal, wardenTokenRefusal[name]!, name);
    }
    await stillServing('after SSH logins with forged tokens');
  });

  it('refuses an SSH password of a megabyte without taking the gateway down', async () => {
    const megabyte = forged.find((f) => f.name === 'a megabyte long')!.token;
    count('ssh login');
    const client = new ssh2.Client();
    const outcome = await new Promise<string>((resolve) => {
      client.once('ready', () => resolve('logged in'));
      client.once('error', (error) => resolve(error.message));
      client.once('close', () => resolve('closed'));
      client.connect({ host: '127.0.0.1', port: warden.sshPort, username: 'host', password: megabyte, hostVerifier: () => true, readyTimeout: 20_000 });
    });
    client.end();
    assert.notEqual(outcome, 'logged in');
    await stillServing('after a megabyte SSH password');
  });

  it('refuses each forged Warden token as an API bearer with 401 naming the cause; a megabyte header gets 431', async () => {
    for (const { name, token: forgery } of forged) {
      if (name === 'a megabyte long') {
        // Node answers 431 once the headers pass its limit and closes the connection; a client still
        // sending the rest of the megabyte can see the reset before it reads the answer.
        const outcome = await bearer(forgery).then(
          (answer) => answer.status,
          (error: NodeJS.ErrnoException) => error.code,
        );
        assert.ok(outcome === 431 || outcome === 'ECONNRESET' || outcome === 'EPIPE', `Node refuses headers over its limit: ${outcome}`);
        continue;
      }
      const answer = await bearer(forgery);
      assert.equal(answer.status, 401, `${name}: ${answer.text}`);
      assert.match(String(answer.json?.message), wardenTokenRefusal[name]!, name);
    }
    await stillServing('after forged bearers');
  });

  it('refuses a tampered token that claims more groups on every route that takes a bearer', async () => {
    const tampered = forged.find((f) => f.name === 'tampered payload')!.token;
    const bearerRoutes = routes.filter((route) => route.audience === 'public' && !/token|slack|well-known|console(?!\/whoami)/.test(route.path));
    assert.ok(bearerRoutes.length >= 8, `bearer routes: ${bearerRoutes.map((r) => r.path).join(', ')}`);
    for (const route of bearerRoutes) {
      count('API bearer');
      const path = route.path.replace(/\{[^}]+\}/g, (parameter) => (parameter === '{decision}' ? 'approve' : 'x'));
      const answer = await send(api, path, { method: route.method, headers: { authorization: `Bearer ${tampered}`, 'content-type': 'application/json' }, ...(route.method === 'POST' ? { body: '{"reason":"r"}' } : {}) });
      assert.equal(answer.status, 401, `${route.method} ${path}: ${answer.text}`);
      assert.match(String(answer.json?.message), /signature does not verify/, path);
    }
    await stillServing('after tampered bearers');
  });

  it('refuses a genuine token for another connection on this one, on both logins', async () => {
    const billingOnly = await token('rita', ['--audience', 'billing']);
    assert.match(await postgresRefusal(billingOnly), /not valid for this connection \(audience \["billing"\]\)/);
    assert.match(await sshRefusal(billingOnly), /not valid for this connection/);
    const reSigned = await forOtherAudience(genuine, await stateKey('token-signing.jwk'), ['billing']);
    assert.match(await postgresRefusal(reSigned), /not valid for this connection/);
    const loggedIn = await loginWire(warden.proxyPort, billingOnly, 'billing', 'rita');
    loggedIn.socket.destroy();
    await stillServing('after tokens for another connection');
  });

  it('refuses forged identity tokens and forged parent tokens at POST /v1/token with invalid_grant naming the cause', async () => {
    const devKey = await stateKey('dev-issuer.jwk');
    const identity = await new DevIssuer(await loadOrCreateEcKey(join(warden.dir, 'state', 'keys', 'dev-issuer.jwk'))).mint({ sub: 'mallory', groups: ['auditors'] });
    for (const { name, token: subject } of await forgeries(identity, { privateJwk: devKey, publicJwk: publicOf(devKey) })) {
      const answer = await exchange({ subject_token: subject });
      if (name === 'a megabyte long') {
        assert.equal(answer.status, 413, `the form with a megabyte token is over the body limit: ${answer.text}`);
        continue;
      }
      assert.equal(answer.status, 400, `${name}: ${answer.text}`);
      assert.match(String(answer.json?.error), /^invalid_grant$/, name);
      assert.match(String(answer.json?.error_description), identityTokenRefusal[name]!, `${name}: ${answer.text}`);
    }
    const long = await exchange({ subject_token: `${identity}${'A'.repeat(100_000)}` });
    assert.equal(long.status, 400);
    assert.match(String(long.json?.error_description), /subject_token: Too big: expected string to have <=16384 characters/);
    for (const { name, token: parent } of forged) {
      const answer = await exchange({ subject_token: parent, actor_token: identity });
      assert.equal(answer.status, name === 'a megabyte long' ? 413 : 400, `${name}: ${answer.text}`);
      assert.doesNotMatch(String(answer.json?.access_token ?? ''), /\./, `${name}: no token was issued`);
    }
    await stillServing('after forged exchanges');
  });

  it('refuses a revoked token on every surface, while other tokens keep working', async () => {
    const doomed = await token('victor');
    const revoked = await warden.cli(['revoke', '--token', doomed, '--reason', 'laptop stolen']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(await postgresRefusal(doomed), /token was revoked .*laptop stolen/);
    assert.match(await sshRefusal(doomed), /token was revoked .*laptop stolen/);
    const read = await bearer(doomed);
    assert.equal(read.status, 401);
    assert.match(String(read.json?.message), /revoked .*laptop stolen/);
    // Nor live on through a child token, which would have a jti of its own.
    const child = await warden.cli(['exchange', '--token', doomed, '--as', 'helper-agent']);
    assert.notEqual(child.code, 0, `a revoked token cannot be exchanged: ${child.stdout}`);
    assert.match(child.stderr, /revoked .*laptop stolen/);
    await stillServing('after the revocation');
  });

  it('afterwards: no forged identity appears in the ledger, every well-behaved statement does, and warden verify passes', async () => {
    await steady.round('at the end');
    const entries = (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);
    const sessionsOf = (sub: string) => entries.filter((entry) => entry.type === 'session.start' && entry.identity.sub === sub);
    assert.deepEqual(sessionsOf('root'), [], 'the tampered identity never opened a session');
    assert.deepEqual(sessionsOf('mallory'), [], 'the forged identity token never became a session');
    assert.deepEqual(sessionsOf('victor'), [], 'the revoked token never opened a session');
    assert.deepEqual(steady.missingFrom(entries), []);
    const verified = await warden.cli(['verify', '--json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});
