/**
 * The control plane's handlers behind the local HTTP adapter, on an in-memory dynalite:
 * the same modules a Lambda would run, spoken to over HTTP.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { PolicyEngine } from '../../functions/lib/policy-engine.js';
import { SCHEMA_FILE } from '../../functions/lib/policy-files.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { DEV_ISSUER, DEV_ISSUER_AUDIENCE } from '../../functions/lib/dev-issuer.js';
import { wardenConfigSchema } from '../../core/config.js';
import type { AuthorizeResponse, SessionStartResponse } from '../../core/contract.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { buildRuntime, configureRuntime, type Runtime } from '../../functions/lib/runtime.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';
import { ensureTables } from '../../functions/lib/table-setup.js';

const PROXY_KEY = 'test-proxy-key-0123456789';

describe('control plane over the local HTTP adapter', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let api: LocalApi;
  let runtime: Runtime;

  const post = async (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${PROXY_KEY}` }) => {
    const response = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const exchange = async (fields: Record<string, string>) => {
    const response = await fetch(`${api.url}/v1/token`, { method: 'POST', body: new URLSearchParams(fields) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const wardenToken = async (sub: string, groups: string[] = []) => {
    const subject = await runtime.devIssuer!.mint({ sub, groups });
    const { body } = await exchange({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' });
    return String(body.access_token);
  };
  const openSession = async (sub: string) => {
    const { status, body } = await post('/v1/sessions', { token: await wardenToken(sub), connection: 'app', protocol: 'postgres', client: { address: '127.0.0.1', user: sub, tls: false } });
    assert.equal(status, 201, JSON.stringify(body));
    return body as unknown as SessionStartResponse;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-cp-'));
    store = await startDynalite({});
    const config = wardenConfigSchema.parse({
      tokens: { maxDepth: 2 },
      connections: {
        app: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' },
        billing: { kind: 'postgres', host: '127.0.0.1', database: 'billing', user: 'u' },
      },
    });
    const policy = PolicyEngine.load(
      '@id("all") permit (principal, action, resource);\n@id("no-ddl") @reason("no drops") forbid (principal, action == Warden::Action::"sql:ddl", resource);',
      await readFile(SCHEMA_FILE, 'utf8'),
    );
    runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: PROXY_KEY, policy });
    await ensureTables(runtime.client, 'warden');
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await api.close();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  describe('POST /v1/token', () => {
    it('exchanges a development identity token for a short-lived ES256 Warden token', async () => {
      const subject = await runtime.devIssuer!.mint({ sub: 'alice', groups: ['dba', 'eng'] });
      const { status, body } = await exchange({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subject,
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.issued_token_type, 'urn:ietf:params:oauth:token-type:jwt');
      const token = String(body.access_token);
      assert.equal(decodeProtectedHeader(token).alg, 'ES256');
      const claims = decodeJwt(token);
      assert.equal(claims.sub, 'alice');
      assert.deepEqual(claims.groups, ['dba', 'eng']);
      assert.deepEqual(claims.aud, ['app', 'billing']);
      assert.match(String(claims.chain), /^[0-9a-f-]{36}$/);
      assert.equal(claims.act, undefined, 'a directly exchanged token has no actor chain');
      assert.ok(claims.exp! - claims.iat! <= 900 && claims.exp! > Date.now() / 1000);
      assert.equal(body.expires_in, claims.exp! - claims.iat!);
    });

    it('narrows the audience to the connections asked for, and refuses unknown ones', async () => {
      const subject = await runtime.devIssuer!.mint({ sub: 'alice', groups: [] });
      const base = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' };
      const narrow = await exchange({ ...base, audience: 'billing' });
      assert.deepEqual(decodeJwt(String(narrow.body.access_token)).aud, ['billing']);
      const unknown = await exchange({ ...base, audience: 'prod' });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'invalid_target');
    });

    it('answers RFC 6749 §5.2 errors', async () => {
      const missingGrant = await exchange({ subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
      assert.equal(missingGrant.status, 400);
      assert.equal(missingGrant.body.error, 'invalid_request');
      // An identity token that claims the development issuer but is signed by another key.
      const foreignKey = (await generateKeyPair('ES256')).privateKey;
      const impostor = await new SignJWT({ groups: ['admin'] }).setProtectedHeader({ alg: 'ES256' }).setIssuer(DEV_ISSUER).setAudience(DEV_ISSUER_AUDIENCE).setSubject('mallory').setIssuedAt().setExpirationTime('5m').sign(foreignKey);
      const forged = await exchange({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: impostor, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
      assert.equal(forged.status, 400);
      assert.equal(forged.body.error, 'invalid_grant');
      assert.match(String(forged.body.error_description), /not issued by this Warden/);
    });
  });

  describe('POST /v1/token, agents starting agents', () => {
    const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const child = async (parent: string, agent: string, extra: Record<string, string> = {}) =>
      exchange({
        grant_type: EXCHANGE,
        subject_token: parent,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        actor_token: await runtime.devIssuer!.mint({ sub: agent, groups: [] }),
        actor_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        ...extra,
      });

    it('gives a child token that keeps the root and the chain, nests act, and never outlives or outreaches its parent', async () => {
      const parent = await wardenToken('alice', ['eng']);
      const parentClaims = decodeJwt(parent);
      const first = await child(parent, 'planner', { audience: 'billing' });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const firstClaims = decodeJwt(String(first.body.access_token));
      assert.equal(firstClaims.sub, 'alice');
      assert.equal(firstClaims.chain, parentClaims.chain);
      assert.deepEqual(firstClaims.act, { sub: 'planner' });
      assert.deepEqual(firstClaims.aud, ['billing']);
      assert.deepEqual(firstClaims.groups, ['eng']);
      assert.ok(firstClaims.exp! <= parentClaims.exp!);
      const second = await child(String(first.body.access_token), 'coder');
      const secondClaims = decodeJwt(String(second.body.access_token));
      assert.deepEqual(secondClaims.act, { sub: 'coder', act: { sub: 'planner' } });
      assert.deepEqual(secondClaims.aud, ['billing']);
      // The session names the whole chain, and the acting agent is the principal.
      const { status, body } = await post('/v1/sessions', { token: second.body.access_token, connection: 'billing', protocol: 'postgres', client: { address: '', user: 'coder', tls: false } });
      assert.equal(status, 201);
      assert.deepEqual((body as unknown as SessionStartResponse).identity.act, [{ sub: 'planner' }, { sub: 'coder' }]);
      assert.equal((body as unknown as SessionStartResponse).identity.sub, 'alice');
    });

    it('refuses to widen, to go deeper than allowed, or to delegate without an actor', async () => {
      const parent = await wardenToken('alice');
      const narrow = String((await child(parent, 'planner', { audience: 'billing', scope: 'connect' })).body.access_token);
      const wider = await child(narrow, 'coder', { audience: 'app' });
      assert.deepEqual([wider.status, wider.body.error], [400, 'invalid_target']);
      assert.match(String(wider.body.error_description), /audience may only narrow/);
      const moreScope = await child(narrow, 'coder', { scope: 'connect admin' });
      assert.deepEqual([moreScope.status, moreScope.body.error], [400, 'invalid_scope']);
      const deep = String((await child(narrow, 'coder')).body.access_token);
      const tooDeep = await child(deep, 'intern');
      assert.equal(tooDeep.body.error, 'invalid_grant');
      assert.match(String(tooDeep.body.error_description), /3 agents deep; the maximum is 2/);
      const noActor = await exchange({ grant_type: EXCHANGE, subject_token: parent, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
      assert.deepEqual([noActor.status, noActor.body.error], [400, 'invalid_request']);
    });
  });

  describe('proxy routes', () => {
    it('refuse callers without the proxy key', async () => {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${PROXY_KEY}x` }];
      for (const headers of attempts) {
        const { status, body } = await post('/v1/authorize', { commands: [] }, headers);
        assert.equal(status, 401);
        assert.equal(body.error, 'UNAUTHENTICATED_PROXY');
      }
    });

    it('validate request bodies and name the bad field', async () => {
      const { status, body } = await post('/v1/authorize', { commands: [{ sessionId: 's', commandId: -1, kind: 'sql.query', text: 'SELECT 1' }] });
      assert.equal(status, 400);
      assert.match(String(body.message), /commands\.0\.commandId/);
      const notJson = await post('/v1/sessions', '{not json');
      assert.equal(notJson.status, 400);
    });

    it('open a session only for a token whose audience has the connection', async () => {
      const subject = await runtime.devIssuer!.mint({ sub: 'carol', groups: [] });
      const { body } = await exchange({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', audience: 'billing' });
      const refused = await post('/v1/sessions', { token: body.access_token, connection: 'app', protocol: 'postgres', client: { address: '', user: 'carol', tls: false } });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, 'WRONG_AUDIENCE');
      const unknown = await post('/v1/sessions', { token: body.access_token, connection: 'nope', protocol: 'postgres', client: { address: '', user: 'carol', tls: false } });
      assert.equal(unknown.body.error, 'UNKNOWN_CONNECTION');
    });

    it('decide a batch across sessions; a bad session denies only its own commands', async () => {
      const a = await openSession('alice');
      const b = await openSession('bob');
      const { status, body } = await post('/v1/authorize', {
        commands: [
          { sessionId: a.sessionId, commandId: 0, kind: 'sql.query', text: 'SELECT 1; SELECT 2' },
          { sessionId: b.sessionId, commandId: 0, kind: 'sql.query', text: 'DROP TABLE t' },
          { sessionId: 'no-such-session', commandId: 0, kind: 'sql.query', text: 'SELECT 1' },
          { sessionId: a.sessionId, commandId: 1, kind: 'sql.execute', text: 'SELEC oops', parameters: ['1'] },
        ],
      });
      assert.equal(status, 200);
      const { results } = body as unknown as AuthorizeResponse;
      assert.deepEqual(
        results.map((r) => [r.sessionId === a.sessionId ? 'a' : r.sessionId === b.sessionId ? 'b' : 'x', r.commandId, r.decision, r.statements.length]),
        [
          ['a', 0, 'allow', 2],
          ['b', 0, 'deny', 1],
          ['x', 0, 'deny', 0],
          ['a', 1, 'deny', 1],
        ],
      );
      const ids = results.flatMap((r) => r.statements.map((s) => s.entry));
      assert.ok(ids.every((id) => /^b\d+\.\d+$/.test(id)), ids.join());
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(results[2]!.error, 'UNKNOWN_SESSION');
      assert.match(results[3]!.reason!, /SQL does not parse/);
    });

    it('deny every command once the session token has expired', async () => {
      const session = await openSession('dave');
      configureRuntime({ ...runtime, now: () => Date.now() + 16 * 60_000 });
      try {
        const { body } = await post('/v1/authorize', { commands: [{ sessionId: session.sessionId, commandId: 0, kind: 'sql.query', text: 'SELECT 1' }] });
        const [result] = (body as unknown as AuthorizeResponse).results;
        assert.equal(result!.decision, 'deny');
        assert.match(result!.reason!, /token expired at/);
      } finally {
        configureRuntime(runtime);
      }
    });

    it('fail closed when the store is unreachable: deny, 503, nothing recorded', async () => {
      const session = await openSession('erin');
      await store.close();
      const { status, body } = await post('/v1/authorize', { commands: [{ sessionId: session.sessionId, commandId: 0, kind: 'sql.query', text: 'SELECT 1' }] });
      assert.equal(status, 200);
      const [result] = (body as unknown as AuthorizeResponse).results;
      assert.equal(result!.decision, 'deny');
      assert.equal(result!.error, 'STORE_UNAVAILABLE');
      assert.deepEqual(result!.statements, []);
      const start = await post('/v1/sessions', { token: await wardenToken('frank'), connection: 'app', protocol: 'postgres', client: { address: '', user: 'frank', tls: false } });
      assert.equal(start.status, 503);
      assert.equal(start.body.error, 'STORE_UNAVAILABLE');
    });
  });
});
