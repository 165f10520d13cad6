/**
 * Token exchange against a real OpenID provider (oidc-provider) on loopback, and every
 * forged or misdirected token a gateway must refuse, each with a clear error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { runCli } from '../helpers/warden.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { wardenConfigSchema } from '../../core/config.js';
import type { SessionStartResponse } from '../../core/contract.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { PolicyEngine } from '../../functions/lib/policy-engine.js';
import { SCHEMA_FILE } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';
import { DEVICE_CLIENT_ID, startOidcProvider, WARDEN_RESOURCE, type TestOidcProvider } from '../helpers/oidc-provider.js';

const PROXY_KEY = 'oidc-test-proxy-key';

describe('OIDC token exchange with oidc-provider', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let api: LocalApi;
  let idp: TestOidcProvider;
  let other: TestOidcProvider;

  const exchange = async (subjectToken: string, subjectTokenType = 'access_token') => {
    const response = await fetch(`${api.url}/v1/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subjectToken, subject_token_type: `urn:ietf:params:oauth:token-type:${subjectTokenType}` }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };
  const proxyCall = async <T>(path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PROXY_KEY}` }, body: JSON.stringify(body) });
    return (await response.json()) as T;
  };
  /** A CLI config that reaches this test's control plane and provider. */
  const cliConfig = async () => {
    const configPath = join(dir, 'login.yaml');
    await writeFile(
      configPath,
      stringify({
        stateDir: 'state',
        controlPlane: { listen: { host: '127.0.0.1', port: Number(new URL(api.url).port) } },
        identity: { devIssuer: false, issuers: [{ issuer: idp.issuer, audience: WARDEN_RESOURCE, deviceClientId: DEVICE_CLIENT_ID }] },
      }),
    );
    return configPath;
  };
  /** Runs `warden login --device`, playing the person at the browser as soon as the CLI prints the link. */
  const deviceLogin = (configPath: string, choice: 'approve' | 'abort') => {
    let signIn: Promise<void> | undefined;
    const login = runCli(['--config', configPath, 'login', '--device'], process.env, (text) => {
      const link = /open (http\S+)/.exec(text)?.[1];
      if (link && !signIn) signIn = idp.completeDeviceSignIn(link, 'alice', choice);
    });
    return login.then(async (result) => {
      await signIn;
      return result;
    });
  };
  /** A token signed with the provider's own key, with claims chosen by the test. */
  const forge = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT({ groups: ['robots'], client_id: 'agent-1', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: idp.kid, typ: 'at+jwt', ...header })
      .setIssuer(String(claims.iss ?? idp.issuer))
      .setAudience(String(claims.aud ?? WARDEN_RESOURCE))
      .setSubject('agent-1')
      .setIssuedAt(Number(claims.iat ?? Math.floor(Date.now() / 1000)))
      .setExpirationTime(Number(claims.exp ?? Math.floor(Date.now() / 1000) + 300))
      .sign(idp.signingKey);

  before(async () => {
    idp = await startOidcProvider([{ id: 'agent-1', secret: 'agent-1-secret', groups: ['robots'] }], [{ account: 'alice', groups: ['dba'] }]);
    other = await startOidcProvider([{ id: 'agent-1', secret: 'agent-1-secret', groups: ['robots'] }]);
    dir = await mkdtemp(join(tmpdir(), 'warden-oidc-'));
    store = await startDynalite({});
    const config = wardenConfigSchema.parse({
      identity: { devIssuer: false, issuers: [{ issuer: idp.issuer, audience: WARDEN_RESOURCE, deviceClientId: DEVICE_CLIENT_ID }] },
      connections: { app: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' } },
    });
    const policy = PolicyEngine.load(
      '@id("agents-read") permit (principal is Warden::Agent, action == Warden::Action::"sql:select", resource);',
      await readFile(SCHEMA_FILE, 'utf8'),
    );
    const runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: PROXY_KEY, policy });
    await ensureTables(runtime.client, 'warden');
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await api?.close();
    await store?.close();
    await idp?.close();
    await other?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exchanges a client-credentials access token for a Warden token of a workload, found through discovery', async () => {
    const { status, body } = await exchange(await idp.clientCredentialsToken('agent-1'));
    assert.equal(status, 200, JSON.stringify(body));
    const claims = decodeJwt(body.access_token!);
    assert.equal(claims.sub, 'agent-1');
    assert.deepEqual(claims.groups, ['robots']);
    assert.equal(claims.workload, true);
    // A workload is a Cedar Agent: the policy above permits only agents.
    assert.equal(await firstDecision(body.access_token!, 'agent-1'), 'allow');
  });

  /** Starts a session with `token` and returns the decision on `SELECT 1`. */
  const firstDecision = async (token: string, user: string) => {
    const session = await proxyCall<SessionStartResponse>('/v1/sessions', { token, connection: 'app', protocol: 'postgres', client: { address: '', user, tls: false } });
    const decided = await proxyCall<{ results: { decision: string }[] }>('/v1/authorize', { commands: [{ sessionId: session.sessionId, commandId: 0, kind: 'sql.query', text: 'SELECT 1' }] });
    return decided.results[0]!.decision;
  };

  it('exchanges the ID token a person got through the device flow; a person is not an Agent', async () => {
    const started = (await (await fetch(`${idp.issuer}/device/auth`, { method: 'POST', body: new URLSearchParams({ client_id: DEVICE_CLIENT_ID, scope: 'openid groups' }) })).json()) as Record<string, string>;
    await idp.completeDeviceSignIn(started.verification_uri_complete!, 'alice');
    const issued = (await (
      await fetch(`${idp.issuer}/token`, { method: 'POST', body: new URLSearchParams({ client_id: DEVICE_CLIENT_ID, grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: started.device_code! }) })
    ).json()) as { id_token: string };
    assert.equal(decodeJwt(issued.id_token).aud, DEVICE_CLIENT_ID);
    const { status, body } = await exchange(issued.id_token, 'id_token');
    assert.equal(status, 200, JSON.stringify(body));
    const claims = decodeJwt(body.access_token!);
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.groups, ['dba']);
    assert.notEqual(claims.workload, true);
    // The policy permits only agents: the person is a Warden::User, so the same SELECT is denied.
    assert.equal(await firstDecision(body.access_token!, 'alice'), 'deny');
  });

  it('warden login --device prints the link and the code, waits for the person, then prints a Warden token', async () => {
    const login = await deviceLogin(await cliConfig(), 'approve');
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /To sign in, open http\S+\/device\?user_code=\S+\nand check that it shows the code [A-Z]{4}-[A-Z]{4}/);
    const claims = decodeJwt(login.stdout.trim());
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.groups, ['dba']);
  });

  it('warden login --device exits 1 with the reason when the person declines', async () => {
    const login = await deviceLogin(await cliConfig(), 'abort');
    assert.equal(login.code, 1);
    assert.match(login.stderr, /the sign-in was declined at the identity provider/);
    assert.equal(login.stdout, '');
  });

  it('warden login signs in with client credentials and prints a Warden token', async () => {
    const configPath = await cliConfig();
    const login = await runCli(['--config', configPath, 'login', '--client-id', 'agent-1', '--client-secret-env', 'TEST_CLIENT_SECRET'], { ...process.env, TEST_CLIENT_SECRET: 'agent-1-secret' });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(decodeJwt(login.stdout.trim()).sub, 'agent-1');
    const wrong = await runCli(['--config', configPath, 'login', '--client-id', 'agent-1', '--client-secret-env', 'TEST_CLIENT_SECRET'], { ...process.env, TEST_CLIENT_SECRET: 'not-the-secret' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /the identity provider refused the client credentials/);
    assert.ok(!wrong.stderr.includes('not-the-secret'), 'the secret is not echoed');
  });

  it('refuses forged and misdirected tokens, each with a clear error', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { publicKey } = { publicKey: await exportJWK(idp.signingKey).then(({ d: _d, ...pub }) => pub) };
    const hmacWithPublicKey = await new SignJWT({ client_id: 'agent-1' })
      .setProtectedHeader({ alg: 'HS256', kid: idp.kid })
      .setIssuer(idp.issuer)
      .setAudience(WARDEN_RESOURCE)
      .setSubject('agent-1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(publicKey)));
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: idp.issuer, aud: WARDEN_RESOURCE, sub: 'agent-1', iat: now, exp: now + 300 })).toString('base64url')}.`;
    const strangerKey = (await generateKeyPair('ES256')).privateKey;
    const unknownKid = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'not-a-known-kid' }).setIssuer(idp.issuer).setAudience(WARDEN_RESOURCE).setSubject('agent-1').setIssuedAt().setExpirationTime('5m').sign(strangerKey);
    const cases: [string, string, RegExp][] = [
      ['wrong issuer', await other.clientCredentialsToken('agent-1'), /are not accepted; configure it under identity\.issuers/],
      ['wrong audience', await forge({ aud: 'urn:someone-else' }), /not valid for this gateway \(audience "urn:someone-else"\)/],
      ['an ID token issued to another client', await forge({ aud: 'some-other-app', client_id: undefined }, { typ: 'JWT' }), /not valid for this gateway \(audience "some-other-app"\)/],
      ['expired', await forge({ iat: now - 3600, exp: now - 60 }), /expired at/],
      ['not yet valid', await forge({ nbf: now + 3600 }), /claim "nbf"/],
      ['alg none', unsigned, /not a valid identity token|algorithm/],
      ['HS256 signed with the public key', hmacWithPublicKey, /algorithm this Warden does not accept/],
      ['unknown kid', unknownKid, /not a valid identity token|does not verify/],
      ['oversized', await forge({ padding: 'x'.repeat(20_000) }), /too big|16384/i],
    ];
    for (const [label, token, message] of cases) {
      const { status, body } = await exchange(token);
      assert.equal(status, 400, label);
      assert.match(body.error_description ?? '', message, `${label}: ${body.error_description}`);
    }
  });
});
