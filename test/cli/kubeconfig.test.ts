/**
 * `warden kubeconfig` and `warden kube-credential`, run as real processes: the kubeconfig read
 * back by the real kubectl, the plugin with a real Warden and a real OpenID provider, and
 * finally kubectl running the plugin itself and sending the token to an HTTPS server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { parse as parseYaml, stringify } from 'yaml';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';
import { startOidcProvider, WARDEN_RESOURCE, type TestOidcProvider } from '../helpers/oidc-provider.js';
import { runCli, startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const KUBECTL = '/usr/bin/kubectl';
const BIN = new URL('../../cli/bin.js', import.meta.url).pathname;
const KUBERNETES_CONNECTION = { kind: 'kubernetes', server: 'https://127.0.0.1:1', tokenEnv: 'KUBE_TEST_SERVICE_TOKEN' };

interface ExecCredential {
  apiVersion: string;
  kind: string;
  status: { token: string; expirationTimestamp: string };
}

/** The environment of the test, without a Warden token the developer may have exported. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('WARDEN_TOKEN' in extra)) delete env.WARDEN_TOKEN;
  return env;
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** An unsigned JWT: the plugin only reads a token's claims, the gateway verifies them. */
function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

function kubectl(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { env, timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
  return [];
}

describe('warden kubeconfig', () => {
  let dir: string;
  let configPath: string;
  let certPem: string;
  const run = (args: readonly string[]) => runCli(['--config', configPath, ...args], cleanEnv());

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-kubeconfig-'));
    configPath = join(dir, 'warden.yaml');
    await writeFile(configPath, stringify({ stateDir: 'state', connections: { k8s: KUBERNETES_CONNECTION, db: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' } } }));
    certPem = selfSignedCertificate(['127.0.0.1']).cert;
    await writeFile(join(dir, 'gateway.crt'), certPem);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A running.json that readRunningState takes for a live `warden up`: its pid is this test's. */
  const fakeRunning = async (host: string) => {
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(
      join(dir, 'state', 'running.json'),
      JSON.stringify({ pid: process.pid, controlPlaneUrl: 'http://127.0.0.1:1', postgres: { host: '127.0.0.1', port: 15432 }, kubernetes: { host, port: 8443, certFile: join(dir, 'gateway.crt') } }),
    );
  };

  it('writes a kubeconfig for the running gateway that kubectl reads: server, CA, exec plugin, no token', async () => {
    await fakeRunning('127.0.0.1');
    const out = join(dir, 'kube', 'nested', 'config.yaml');
    const result = await run(['kubeconfig', '--connection', 'k8s', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`export KUBECONFIG=${out}\n  export WARDEN_TOKEN=\\$\\(warden login --device\\)\n  kubectl get pods`));
    assert.equal((await stat(out)).mode & 0o777, 0o600);

    const viewed = await kubectl(['--kubeconfig', out, 'config', 'view', '--raw', '-o', 'json'], cleanEnv({ HOME: dir }));
    assert.equal(viewed.code, 0, viewed.stderr);
    const view = JSON.parse(viewed.stdout) as {
      clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { name: string; user: { exec: { apiVersion: string; command: string; args: string[]; interactiveMode: string; provideClusterInfo: boolean; env: unknown } } }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
      'current-context': string;
    };
    assert.equal(view.clusters.length, 1);
    assert.equal(view.clusters[0]!.cluster.server, 'https://127.0.0.1:8443/clusters/k8s');
    assert.equal(Buffer.from(view.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), certPem);
    assert.deepEqual(view.contexts, [{ name: 'k8s', context: { cluster: 'k8s', user: 'k8s' } }]);
    assert.equal(view['current-context'], 'k8s');
    const { exec } = view.users[0]!.user;
    assert.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
    assert.equal(exec.command, process.execPath);
    assert.deepEqual(exec.args, [BIN, '--config', configPath, 'kube-credential', '--connection', 'k8s']);
    assert.equal(exec.interactiveMode, 'IfAvailable');
    assert.equal(exec.provideClusterInfo, false);
    assert.equal(exec.env, null);
    const keys = keysOf(view);
    for (const key of ['token', 'tokenFile', 'client-key-data', 'password']) assert.ok(!keys.includes(key), `no ${key} in the kubeconfig`);
    assert.doesNotMatch(await readFile(out, 'utf8'), /eyJ/, 'no JWT in the file');
  });

  it('prints to stdout, brackets an IPv6 host, and passes the sign-in options on to the plugin', async () => {
    await fakeRunning('::1');
    const result = await run(['kubeconfig', '--connection', 'k8s', '--context', 'dev', '--client-id', 'agent-1', '--client-secret-env', 'AGENT_SECRET']);
    assert.equal(result.code, 0, result.stderr);
    const config = parseYaml(result.stdout) as { clusters: { name: string; cluster: { server: string } }[]; users: { name: string; user: { exec: { args: string[] } } }[]; 'current-context': string };
    assert.equal(config.clusters[0]!.cluster.server, 'https://[::1]:8443/clusters/k8s');
    assert.equal(config.clusters[0]!.name, 'dev');
    assert.equal(config['current-context'], 'dev');
    assert.deepEqual(config.users[0]!.user.exec.args.slice(3), ['kube-credential', '--connection', 'k8s', '--client-id', 'agent-1', '--client-secret-env', 'AGENT_SECRET']);
    assert.match(result.stderr, /export KUBECONFIG=FILE/);
  });

  it('refuses a connection that is unknown or not kubernetes, naming the kubernetes ones (exit 2)', async () => {
    const [unknown, postgres] = await Promise.all([
      run(['kubeconfig', '--connection', 'nope', '--server', 'https://127.0.0.1:8443/clusters/nope']),
      run(['kubeconfig', '--connection', 'db', '--server', 'https://127.0.0.1:8443/clusters/db']),
    ]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no connection nope; kubernetes connections in .*warden\.yaml: k8s/);
    assert.equal(postgres.code, 2);
    assert.match(postgres.stderr, /db is a postgres connection, not kubernetes; kubernetes connections in .*: k8s/);
    assert.equal(postgres.stdout, '');
  });

  it('exits 3 with the fix when warden up is not running and there is no --server', async () => {
    await rm(join(dir, 'state', 'running.json'), { force: true });
    const result = await run(['kubeconfig', '--connection', 'k8s']);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /warden up is not running; start it .* or pass --server/);
    assert.equal(result.stdout, '');
  });
});

describe('warden kube-credential', () => {
  let dir: string;
  let idp: TestOidcProvider;
  let warden: RunningTestWarden;
  let token: string;
  const credential = (args: readonly string[], env: NodeJS.ProcessEnv) => runCli(['--config', warden.configPath, 'kube-credential', '--connection', 'k8s', ...args], cleanEnv(env));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-kube-credential-'));
    idp = await startOidcProvider([{ id: 'agent-1', secret: 'agent-1-secret', groups: ['robots'] }]);
    warden = await startTestWarden(
      { identity: { issuers: [{ issuer: idp.issuer, audience: WARDEN_RESOURCE }] }, connections: { k8s: KUBERNETES_CONNECTION } },
      { KUBE_TEST_SERVICE_TOKEN: 'service-account-token' },
    );
    const minted = await warden.cli(['token', '--as', 'alice']);
    assert.equal(minted.code, 0, minted.stderr);
    token = minted.stdout.trim();
  });
  after(async () => {
    await warden?.stop();
    await idp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints an ExecCredential with the token from WARDEN_TOKEN, expiring when the token does', async () => {
    const result = await credential([], { WARDEN_TOKEN: token });
    assert.equal(result.code, 0, result.stderr);
    const output = JSON.parse(result.stdout) as ExecCredential;
    assert.deepEqual(output, { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token, expirationTimestamp: rfc3339(decodeJwt(token).exp!) } });
  });

  it('reads the variable --token-env names', async () => {
    const result = await credential(['--token-env', 'MY_WARDEN_TOKEN'], { MY_WARDEN_TOKEN: token });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as ExecCredential).status.token, token);
  });

  it('exits 1 with the fix when the variable is unset, expired or for other connections', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [unset, expired, elsewhere] = await Promise.all([
      credential([], {}),
      credential([], { WARDEN_TOKEN: unsignedJwt({ aud: ['k8s'], exp: now - 10 }) }),
      credential([], { WARDEN_TOKEN: unsignedJwt({ aud: ['app'], exp: now + 600 }) }),
    ]);
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /the environment variable WARDEN_TOKEN is not set; .*export WARDEN_TOKEN=\$\(warden login --device\)/);
    assert.equal(unset.stdout, '');
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /the Warden token in WARDEN_TOKEN expired at .*; get a new one: export WARDEN_TOKEN=/);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /may not open k8s \(it may open: app\); get one that may: export WARDEN_TOKEN=\$\(warden login --device --audience k8s\)/);
  });

  it('refuses sign-in options that do not go together (exit 2)', async () => {
    const [mixed, half] = await Promise.all([credential(['--token-env', 'X', '--device'], {}), credential(['--client-id', 'agent-1'], {})]);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--token-env .* does not go with --device/);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /client credentials need both --client-id and --client-secret-env/);
  });

  it('signs in with client credentials once, caches the token (0600), and signs in again when the cache is corrupt or nearly expired', async () => {
    const cacheHome = join(dir, 'cache');
    const env = { XDG_CACHE_HOME: cacheHome, TEST_CLIENT_SECRET: 'agent-1-secret' };
    const args = ['--client-id', 'agent-1', '--client-secret-env', 'TEST_CLIENT_SECRET'];
    const signIns = idp.tokenRequests();

    const first = await credential(args, env);
    assert.equal(first.code, 0, first.stderr);
    const issued = (JSON.parse(first.stdout) as ExecCredential).status;
    const claims = decodeJwt(issued.token);
    assert.equal(claims.sub, 'agent-1');
    assert.deepEqual(claims.aud, ['k8s']);
    assert.equal(issued.expirationTimestamp, rfc3339(claims.exp!));
    assert.equal(idp.tokenRequests(), signIns + 1);

    const cacheDir = join(cacheHome, 'warden', 'kube');
    const files = await readdir(cacheDir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^[0-9a-f]{16}\.json$/);
    const cacheFile = join(cacheDir, files[0]!);
    assert.equal((await stat(cacheFile)).mode & 0o777, 0o600);
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);

    const second = await credential(args, env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as ExecCredential).status.token, issued.token);
    assert.equal(idp.tokenRequests(), signIns + 1, 'the cached token was used: no sign-in');

    await writeFile(cacheFile, '{"token": "not a jw');
    const afterCorrupt = await credential(args, env);
    assert.equal(afterCorrupt.code, 0, afterCorrupt.stderr);
    const renewed = (JSON.parse(afterCorrupt.stdout) as ExecCredential).status.token;
    assert.equal(decodeJwt(renewed).sub, 'agent-1');
    assert.equal(idp.tokenRequests(), signIns + 2);
    assert.equal((JSON.parse(await readFile(cacheFile, 'utf8')) as { token: string }).token, renewed, 'the corrupt file was rewritten');

    const nearlyExpired = unsignedJwt({ sub: 'agent-1', aud: ['k8s'], exp: Math.floor(Date.now() / 1000) + 30 });
    await writeFile(cacheFile, JSON.stringify({ token: nearlyExpired }));
    const afterExpiry = await credential(args, env);
    assert.equal(afterExpiry.code, 0, afterExpiry.stderr);
    const replaced = (JSON.parse(afterExpiry.stdout) as ExecCredential).status.token;
    assert.notEqual(replaced, nearlyExpired);
    assert.equal(idp.tokenRequests(), signIns + 3);
    assert.equal((JSON.parse(await readFile(cacheFile, 'utf8')) as { token: string }).token, replaced);
    assert.equal((await stat(cacheFile)).mode & 0o777, 0o600);
  });

  describe('run by kubectl', () => {
    let server: Server;
    let serverUrl: string;
    const requests: { path: string; authorization: string | undefined }[] = [];

    before(async () => {
      const { cert, key } = selfSignedCertificate(['127.0.0.1']);
      await writeFile(join(dir, 'server.crt'), cert);
      server = createServer({ cert, key }, (request, response) => {
        requests.push({ path: request.url ?? '', authorization: request.headers.authorization });
        response.setHeader('content-type', 'application/json');
        response.end('{"major":"1","minor":"32","gitVersion":"v1.32.0"}');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      serverUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('sends the Warden token the plugin prints as its bearer token', async () => {
      const file = join(dir, 'kubectl', 'config.yaml');
      const written = await warden.cli(['kubeconfig', '--connection', 'k8s', '--server', `${serverUrl}/clusters/k8s`, '--certificate-authority', join(dir, 'server.crt'), '--out', file]);
      assert.equal(written.code, 0, written.stderr);
      // kubectl passes its environment to the plugin; HOME keeps its caches out of the developer's.
      const env = cleanEnv({ WARDEN_TOKEN: token, HOME: join(dir, 'home') });

      const raw = await kubectl(['--kubeconfig', file, 'get', '--raw', '/version', '--request-timeout=5s'], env);
      assert.equal(raw.code, 0, raw.stderr);
      assert.equal((JSON.parse(raw.stdout) as { gitVersion: string }).gitVersion, 'v1.32.0');
      assert.ok(requests.length > 0);
      for (const request of requests) assert.equal(request.authorization, `Bearer ${token}`, request.path);

      // `get --raw` takes its path from the server's root; discovery keeps the /clusters/k8s prefix.
      const version = await kubectl(['--kubeconfig', file, 'version', '-o', 'json', '--request-timeout=5s'], env);
      assert.equal(version.code, 0, version.stderr);
      assert.equal((JSON.parse(version.stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion, 'v1.32.0');
      assert.ok(requests.some((request) => request.path.startsWith('/clusters/k8s/version')), JSON.stringify(requests.map((request) => request.path)));
      for (const request of requests) assert.equal(request.authorization, `Bearer ${token}`, request.path);
    });
  });
});
