/**
 * proxy-fleet/main.ts, the fleet's own process (what the Fargate task runs), started as a child
 * process against a real control plane (the handlers behind the local adapter, on dynalite)
 * and a real PostgreSQL: it serves a session, and on SIGTERM it stops taking connections, lets
 * the command in flight finish and be recorded, ends the idle session with the reason, and exits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import ssh2 from 'ssh2';
import { stringify } from 'yaml';
import { wardenConfigSchema } from '../../core/config.js';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { Integrator } from '../../functions/lib/integrator.js';
import { LedgerReader } from '../../functions/lib/ledger-reader.js';
import { S3Recordings } from '../../functions/lib/evidence/s3-recordings.js';
import { DEFAULT_POLICY_FILE, loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime, type Runtime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestS3 } from '../helpers/s3rver.js';
import { startTestSshd } from '../helpers/sshd.js';

const main = new URL('../../proxy-fleet/main.ts', import.meta.url).pathname;
const PROXY_KEY = 'test-proxy-key-0123456789';
const DRAIN_SECONDS = 3;

interface RunningFleet {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every line it logged so far. */
  readonly lines: string[];
}

/** Starts main.ts and resolves once it has logged where it listens. */
async function startFleet(env: NodeJS.ProcessEnv): Promise<RunningFleet> {
  const child = spawn(process.execPath, ['--import', 'tsx', main], { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`main.ts did not start:\n${lines.join('\n')}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`main.ts exited with ${code}:\n${lines.join('\n')}`));
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      const event = line.startsWith('{') ? (JSON.parse(line) as { event?: string; postgres?: { port: number } }) : {};
      if (event.event === 'started') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, port: event.postgres!.port, lines });
      }
    });
  });
}

describe('proxy-fleet/main.ts', () => {
  let dir: string;
  let db: TestPostgres;
  let store: EmbeddedDynalite;
  let runtime: Runtime;
  let api: LocalApi;
  let configFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-fleet-main-'));
    db = await startTestPostgres();
    store = await startDynalite({});
    const connections = { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'APP_PASSWORD', tls: 'disable' } };
    runtime = await buildRuntime({ config: wardenConfigSchema.parse({ connections }), stateDir: join(dir, 'control-plane'), storeEndpoint: store.endpoint, proxyKey: PROXY_KEY, policy: await loadPolicyFile(undefined) });
    await ensureTables(runtime.client, 'warden');
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
    configFile = join(dir, 'warden.yaml');
    await writeFile(configFile, stringify({ stateDir: 'proxy-state', proxy: { postgres: { tls: { mode: 'off' } } }, connections }));
  });

  after(async () => {
    await api?.close();
    await store?.close().catch(() => undefined);
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const wardenToken = async (sub: string) => {
    const subject = await runtime.devIssuer!.mint({ sub, groups: [] });
    const response = await fetch(`${api.url}/v1/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
    });
    return String(((await response.json()) as { access_token: string }).access_token);
  };

  const ledger = async (): Promise<LedgerEntry[]> => {
    const reader = new LedgerReader(runtime.client, 'warden');
    await new Integrator(runtime.client, reader).integrateAll();
    const entries: LedgerEntry[] = [];
    for await (const stored of reader.entries()) entries.push(JSON.parse(stored.entry) as LedgerEntry);
    return entries;
  };

  it('refuses to start without its settings, naming the variable', async () => {
    await assert.rejects(startFleet({ WARDEN_CONFIG: configFile, WARDEN_CONTROL_PLANE_URL: '', WARDEN_PROXY_KEY: PROXY_KEY }), /exited with 2:\nwarden proxy fleet: WARDEN_CONTROL_PLANE_URL is not set/);
    await assert.rejects(startFleet({ WARDEN_CONFIG: configFile, WARDEN_CONTROL_PLANE_URL: api.url, WARDEN_PROXY_KEY: PROXY_KEY, APP_PASSWORD: '' }), /exited with 2:\nwarden proxy fleet: connections\.app\.passwordEnv: the environment variable APP_PASSWORD is not set/);
  });

  it('signs its control-plane calls with SigV4 when WARDEN_PROXY_AUTH=iam, with credentials from the default provider chain', async () => {
    const authorizations: string[] = [];
    const gateway = createServer((request, response) => {
      authorizations.push(request.headers.authorization ?? '');
      request.resume();
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end('{"message":"Forbidden"}');
    });
    gateway.listen(0, '127.0.0.1');
    await once(gateway, 'listening');
    const fleet = await startFleet({
      WARDEN_CONFIG: configFile,
      WARDEN_CONTROL_PLANE_URL: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
      WARDEN_PROXY_AUTH: 'iam',
      AWS_REGION: 'eu-west-1',
      // The chain's first source; in ECS it finds the task role's credentials instead.
      AWS_ACCESS_KEY_ID: 'AKIAWARDENTEST000001',
      AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      WARDEN_POSTGRES_PORT: '0',
      APP_PASSWORD: db.password,
    });
    try {
      const client = new pg.Client({ host: '127.0.0.1', port: fleet.port, user: 'alice', database: 'app', password: 'a-token' });
      await assert.rejects(client.connect(), /control plane/);
      assert.match(authorizations[0] ?? '', /^AWS4-HMAC-SHA256 Credential=AKIAWARDENTEST000001\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
    } finally {
      fleet.child.kill('SIGTERM');
      await once(fleet.child, 'exit');
      gateway.close();
    }
  });

  it('on SIGTERM lets the command in flight finish and be recorded, refuses new connections, ends the rest with the reason, and exits 0', { timeout: 60_000 }, async () => {
    const fleet = await startFleet({
      WARDEN_CONFIG: configFile,
      WARDEN_CONTROL_PLANE_URL: api.url,
      WARDEN_PROXY_KEY: PROXY_KEY,
      WARDEN_LISTEN_HOST: '127.0.0.1',
      WARDEN_POSTGRES_PORT: '0',
      WARDEN_DRAIN_SECONDS: String(DRAIN_SECONDS),
      APP_PASSWORD: db.password,
    });
    const exited = once(fleet.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const client = new pg.Client({ host: '127.0.0.1', port: fleet.port, user: 'alice', database: 'app', password: await wardenToken('alice') });
    const ended = new Promise<Error & { code?: string }>((resolve) => client.on('error', resolve));
    await client.connect();
    assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);

    const inFlight = client.query('SELECT pg_sleep(1.5), 42 AS answer');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const signalledAt = Date.now();
    fleet.child.kill('SIGTERM');

    assert.equal((await inFlight).rows[0].answer, 42, 'the command in flight finished');
    await assert.rejects(
      new Promise((resolve, reject) => connect(fleet.port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
      'no new connections while draining',
    );
    const ending = await ended;
    assert.equal(ending.code, '57P01');
    assert.match(ending.message, /the gateway is shutting down/);
    assert.ok(Date.now() - signalledAt >= DRAIN_SECONDS * 1000 - 100, 'the idle session kept its drain time');
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], fleet.lines.join('\n'));
    await client.end().catch(() => undefined);

    const entries = await ledger();
    const command = entries.find((entry) => entry.type === 'command' && String(entry.data.text).includes('pg_sleep'));
    assert.ok(command, 'the command was decided and recorded');
    const result = entries.find((entry) => entry.type === 'command.result' && entry.session === command.session && entry.data.commandId === command.data.commandId);
    assert.ok(result, 'its result was reported before the process exited');
    assert.equal(result.data.rows, 1);
    const end = entries.find((entry) => entry.type === 'session.end' && entry.session === command.session);
    assert.match(String(end?.data.reason), /the gateway is shutting down/);
    assert.ok(fleet.lines.some((line) => line.includes('"event":"stopped"')));
  });

  it('with WARDEN_RECORDINGS=upload, moves a shell recording to the evidence bucket through a PUT the control plane signs, and the ledger names it', { timeout: 60_000 }, async () => {
    const sshd = await startTestSshd();
    const s3 = await startTestS3();
    const stateDir = await mkdtemp(join(tmpdir(), 'warden-fleet-recordings-'));
    let fleet: RunningFleet | undefined;
    try {
      await s3.createBucket('warden-evidence');
      const policyFile = join(stateDir, 'policies.cedar');
      await writeFile(policyFile, `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}\n@id("shells") permit (principal, action == Warden::Action::"ssh:shell", resource);\n`);
      const connections = { box: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyEnv: 'BOX_KEY', hostKey: sshd.hostPublicKey } };
      // The control plane of a deployment with an evidence bucket, on the same store.
      configureRuntime(
        await buildRuntime({
          config: wardenConfigSchema.parse({ connections }),
          // The same keys as the control plane of the other tests: tokens stay valid across the swap.
          stateDir: join(dir, 'control-plane'),
          storeEndpoint: store.endpoint,
          proxyKey: PROXY_KEY,
          policy: await loadPolicyFile(policyFile),
          recordingStore: new S3Recordings(s3.client, { bucket: 'warden-evidence', prefix: 'warden/evidence/' }, 30),
        }),
      );
      fleet = await startFleet({
        WARDEN_CONFIG_YAML: JSON.stringify({ connections }),
        WARDEN_CONTROL_PLANE_URL: api.url,
        WARDEN_PROXY_KEY: PROXY_KEY,
        WARDEN_LISTEN_HOST: '127.0.0.1',
        WARDEN_POSTGRES_PORT: '0',
        WARDEN_SSH_PORT: '0',
        WARDEN_STATE_DIR: join(stateDir, 'task'),
        WARDEN_RECORDINGS: 'upload',
        BOX_KEY: await readFile(sshd.clientKeyPath, 'utf8'),
      });
      const started = JSON.parse(fleet.lines.find((line) => line.includes('"event":"started"'))!) as { ssh: { port: number } };
      const client = new ssh2.Client();
      const password = await wardenToken('erin');
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve()).once('error', reject);
        client.connect({ host: '127.0.0.1', port: started.ssh.port, username: 'box', password, hostVerifier: () => true });
      });
      await new Promise<void>((resolve, reject) => {
        client.shell({ term: 'xterm', rows: 24, cols: 80 }, (error, stream) => {
          if (error) return reject(error);
          stream.on('close', () => resolve());
          stream.resume();
          stream.end('echo recorded-through-the-task\nexit\n');
        });
      });
      client.end();
      let recording: { path: string; sha256: string } | undefined;
      for (let attempt = 0; attempt < 50 && !recording; attempt += 1) {
        const result = (await ledger()).find((entry) => entry.type === 'command.result' && entry.identity.sub === 'erin' && entry.data.recording);
        recording = result?.data.recording as typeof recording;
        if (!recording) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(recording, `the shell's result names its recording:\n${fleet.lines.join('\n')}`);
      assert.match(recording.path, /^[0-9a-f-]{36}-\d+\.cast$/, 'the ledger names the object, not a path on the task');
      const object = await s3.getObject('warden-evidence', `warden/evidence/recordings/${recording.path}`);
      assert.equal(createHash('sha256').update(object).digest('hex'), recording.sha256);
      assert.match(object.toString(), /recorded-through-the-task/);
      assert.deepEqual(await readdir(join(stateDir, 'task', 'recordings')), [], 'the task keeps no copy');
    } finally {
      if (fleet) {
        fleet.child.kill('SIGTERM');
        await once(fleet.child, 'exit');
      }
      configureRuntime(runtime);
      await s3.close();
      await sshd.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('proxy-fleet/main.ts with the identity from the environment', () => {
  it('two processes with the same WARDEN_SSH_HOST_KEY report the same host key, and a malformed one stops the start naming the variable', { timeout: 60_000 }, async () => {
    let pair: { private: string; public: string };
    do pair = ssh2.utils.generateKeyPairSync('ed25519');
    while (ssh2.utils.parseKey(pair.private) instanceof Error);
    const config = JSON.stringify({ connections: { web: { kind: 'ssh', host: '127.0.0.1', user: 'deploy', privateKeyEnv: 'WEB_KEY', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' } } });
    const stateDir = await mkdtemp(join(tmpdir(), 'warden-fleet-identity-main-'));
    const env = (task: string): NodeJS.ProcessEnv => ({
      WARDEN_CONFIG_YAML: config,
      WARDEN_CONTROL_PLANE_URL: 'http://127.0.0.1:9',
      WARDEN_PROXY_KEY: PROXY_KEY,
      WARDEN_LISTEN_HOST: '127.0.0.1',
      WARDEN_POSTGRES_PORT: '0',
      WARDEN_SSH_PORT: '0',
      WARDEN_STATE_DIR: join(stateDir, task),
      WEB_KEY: pair.private,
      WARDEN_SSH_HOST_KEY: pair.private,
    });
    try {
      const fleets = [await startFleet(env('a')), await startFleet(env('b'))];
      try {
        const reported = fleets.map((fleet) => (JSON.parse(fleet.lines.find((line) => line.includes('"event":"started"'))!) as { ssh: { hostKey: string } }).ssh.hostKey);
        assert.deepEqual(reported, [pair.public.split(' ').slice(0, 2).join(' '), pair.public.split(' ').slice(0, 2).join(' ')]);
        for (const fleet of fleets) assert.ok(!fleet.lines.join('\n').includes('PRIVATE KEY'), 'the key is never logged');
      } finally {
        for (const fleet of fleets) fleet.child.kill('SIGTERM');
        await Promise.all(fleets.map((fleet) => once(fleet.child, 'exit')));
      }
      const junk = 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG';
      await assert.rejects(startFleet({ ...env('c'), WARDEN_SSH_HOST_KEY: junk }), (error: Error) => /exited with 2:\nwarden proxy fleet: WARDEN_SSH_HOST_KEY does not parse/.test(error.message) && !error.message.includes(junk));
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
