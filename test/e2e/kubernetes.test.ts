/**
 * End to end: the real kubectl, with a kubeconfig from `warden kubeconfig`, through the Kubernetes
 * API gateway of `warden up` to the local stand-in API server (test/helpers/fake-kube-apiserver.ts;
 * no kube-apiserver runs here). Every request is decided and recorded; Secrets, logs and exec
 * output are masked; the cluster only ever sees the gateway's own credential.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { PII, startFakeKubeApiserver, type FakeKubeApiserver } from '../helpers/fake-kube-apiserver.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const KUBECTL = '/usr/bin/kubectl';
const CLUSTER = 'cluster';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('kubectl through warden up', () => {
  let cluster: FakeKubeApiserver;
  let warden: RunningTestWarden;
  let dir: string;
  let kubeconfig: string;
  let home: string;

  const token = async (name = 'alice', groups = 'eng') => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const kubectlEnv = (wardenToken: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, WARDEN_TOKEN: wardenToken });
  const kubectl = (args: string[], wardenToken: string): Promise<Run> =>
    new Promise((resolve) => {
      execFile(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env: kubectlEnv(wardenToken), timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
      );
    });
  const entries = async () => (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);
  const requestsIn = (all: LedgerEntry[], predicate: (data: Record<string, unknown>) => boolean) => all.filter((entry) => entry.data.kind === 'k8s.request' && predicate(entry.data));
  const resultIn = (all: LedgerEntry[], request: LedgerEntry) =>
    all.find((entry) => entry.type === 'command.result' && entry.session === request.session && entry.data.commandId === request.data.commandId);

  before(async () => {
    cluster = await startFakeKubeApiserver();
    dir = await mkdtemp(join(tmpdir(), 'warden-kubectl-'));
    home = join(dir, 'home');
    await mkdir(home);
    await writeFile(join(dir, 'cluster-ca.pem'), cluster.caCert);
    await writeFile(
      join(dir, 'policies.cedar'),
      `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}
@id("no-rm-in-pods") @reason("rm is not run in pods through the gateway")
forbid (principal, action == Warden::Action::"k8s:exec", resource) when { context.programs.contains("rm") };

@id("no-kube-system") @reason("kube-system is for cluster administrators")
forbid (principal, action in [Warden::Action::"k8s:get", Warden::Action::"k8s:list", Warden::Action::"k8s:watch"], resource) when { context.namespace == "kube-system" };
`,
    );
    warden = await startTestWarden(
      {
        connections: { [CLUSTER]: { kind: 'kubernetes', server: cluster.url, caFile: join(dir, 'cluster-ca.pem'), tokenEnv: 'TEST_CLUSTER_TOKEN' } },
        policy: { file: join(dir, 'policies.cedar') },
      },
      { TEST_CLUSTER_TOKEN: cluster.token },
    );
    kubeconfig = join(dir, 'kubeconfig');
    const written = await warden.cli(['kubeconfig', '--connection', CLUSTER, '--out', kubeconfig]);
    assert.equal(written.code, 0, written.stderr);
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    await warden?.stop();
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists pods through the gateway, decided and recorded, with the gateway\'s credential upstream', async () => {
    const wardenToken = await token();
    const run = await kubectl(['get', 'pods'], wardenToken);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n').slice(1).map((line) => line.split(/\s+/)[0]), ['api-0', 'web-0']);

    const upstream = cluster.requests.filter((request) => request.path === '/api/v1/namespaces/default/pods');
    assert.ok(upstream.length > 0);
    for (const request of cluster.requests) {
      assert.equal(request.headers.authorization, `Bearer ${cluster.token}`);
      assert.ok(!JSON.stringify(request.headers).includes(wardenToken), 'the Warden token never reaches the cluster');
    }
    const all = await entries();
    const [list] = requestsIn(all, (data) => data.action === 'k8s:list' && data.resource === 'pods');
    assert.ok(list, 'the list is in the ledger');
    assert.equal(list.identity.sub, 'alice');
    assert.equal(list.connection, CLUSTER);
    assert.deepEqual([list.data.verb, list.data.apiGroup, list.data.namespace, list.data.decision], ['list', '', 'default', 'allow']);
    const result = resultIn(all, list);
    assert.equal(result?.data.httpStatus, 200);
    assert.ok(Number(result?.data.bytesOut) > 0);
  });

  it('masks Secret data, including the last-applied annotation, and counts what it masked', async () => {
    const run = await kubectl(['get', 'secret', 'customer-contact', '-o', 'json'], await token());
    assert.equal(run.code, 0, run.stderr);
    const secret = JSON.parse(run.stdout) as { data: Record<string, string>; metadata: { annotations?: Record<string, string> } };
    assert.deepEqual(Object.keys(secret.data).sort(), ['card-number', 'email', 'phone']);
    for (const value of Object.values(secret.data)) assert.equal(Buffer.from(value, 'base64').toString(), '[masked:secret]');
    for (const needle of [PII.email, PII.card, Buffer.from(PII.email).toString('base64'), Buffer.from(PII.card).toString('base64')]) assert.ok(!run.stdout.includes(needle), `${needle} leaked`);
    const table = await kubectl(['get', 'secrets'], await token());
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /customer-contact/);
    const all = await entries();
    const [get] = requestsIn(all, (data) => data.action === 'k8s:get' && data.resource === 'secrets');
    assert.ok(((resultIn(all, get!)?.data.masked as Record<string, number>)['kubernetes-secret'] ?? 0) >= 3);
  });

  it('masks PII in pod logs', async () => {
    const run = await kubectl(['logs', 'web-0'], await token());
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /POST \/signup/);
    assert.ok(!run.stdout.includes(PII.email) && !run.stdout.includes(PII.card), run.stdout);
    const all = await entries();
    const [logs] = requestsIn(all, (data) => data.subresource === 'log');
    assert.equal(logs?.data.action, 'k8s:get');
    const masked = resultIn(all, logs!)?.data.masked as Record<string, number>;
    assert.ok(Object.values(masked).reduce((sum, n) => sum + n, 0) >= 2, JSON.stringify(masked));
  });

  it('runs an exec over WebSocket with the command decided on shell facts, output masked and the exit code passed back', async () => {
    const echo = await kubectl(['exec', 'web-0', '--', 'echo', `contact ${PII.email}`], await token());
    assert.equal(echo.code, 0, echo.stderr);
    assert.match(echo.stdout, /^contact /);
    assert.ok(!echo.stdout.includes(PII.email), echo.stdout);
    const failing = await kubectl(['exec', 'web-0', '--', 'false'], await token());
    assert.equal(failing.code, 1, failing.stderr);

    const all = await entries();
    const execs = requestsIn(all, (data) => data.action === 'k8s:exec');
    const falseExec = execs.find((entry) => (entry.data.programs as string[]).includes('false'))!;
    assert.equal(falseExec.data.decision, 'allow');
    assert.equal(resultIn(all, falseExec)?.data.exitStatus, 1);
    const echoExec = execs.find((entry) => (entry.data.programs as string[]).includes('echo'))!;
    assert.ok(!JSON.stringify(echoExec).includes(PII.email), 'the recorded command is masked');
    assert.equal(resultIn(all, echoExec)?.data.httpStatus, 101);
  });

  it('refuses a denied exec once, with the reason, and the SPDY fallback gets the same answer without a second decision', async () => {
    const before = cluster.execs.length;
    const run = await kubectl(['exec', 'web-0', '--', 'rm', '-rf', '/data'], await token('bob'));
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Warden denied this request: rm is not run in pods through the gateway .*\(ledger entry /);
    assert.equal(cluster.execs.length, before, 'nothing ran in the pod');
    const decided = requestsIn(await entries(), (data) => data.action === 'k8s:exec').filter((entry) => entry.identity.sub === 'bob');
    assert.equal(decided.length, 1);
    assert.equal(decided[0]!.data.decision, 'deny');
  });

  it('holds a nested shell in a pod until an approver approves it', async () => {
    let stderr = '';
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'exec', 'web-0', '--', 'sh', '-c', 'echo approved run'], { env: kubectlEnv(await token('carol')) });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const approver = await token('dana', 'approvers');
    let id = '';
    await waitFor('the approval request', async () => {
      const listed = await warden.cli(['approvals', '--json', '--token', approver]);
      id = (JSON.parse(listed.stdout || '[]') as { id: string }[])[0]?.id ?? '';
      return id !== '';
    });
    assert.equal(child.exitCode, null, `kubectl waits (stderr: ${stderr})`);
    const approved = await warden.cli(['approve', id, '--reason', 'ticket OPS-7', '--token', approver]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(await exited, 0, `${stderr}\n${warden.output().slice(-2000)}`);
    assert.equal(stdout.trim(), 'approved run');
  });

  it('records a watch as one request with its duration and size', async () => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '--watch', '--output-watch-events'], { env: kubectlEnv(await token('erin')) });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitFor('the initial list', () => stdout.includes('web-0'));
    const pod = cluster.pod('default', 'web-0')!;
    cluster.emitPodEvent('MODIFIED', { ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, touched: 'yes' } } });
    await waitFor('the MODIFIED event', () => /MODIFIED\s+web-0/.test(stdout));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
    let watches: LedgerEntry[] = [];
    let result: LedgerEntry | undefined;
    await waitFor('the watch result', async () => {
      const all = await entries();
      watches = requestsIn(all, (data) => data.action === 'k8s:watch').filter((entry) => entry.identity.sub === 'erin');
      result = watches[0] && resultIn(all, watches[0]);
      return result !== undefined;
    });
    assert.equal(watches.length, 1);
    assert.ok(Number(result!.data.durationMs) >= 300, `duration ${String(result!.data.durationMs)}`);
    assert.ok(Number(result!.data.bytesOut) > 0);
  });

  it('cuts a running watch within 5 s when its chain is revoked, and refuses the token after', async () => {
    const frank = await token('frank');
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '--watch'], { env: kubectlEnv(frank) });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor('the initial list', () => stdout.includes('web-0'));
    const whoami = await warden.cli(['whoami', '--token', frank, '--json']);
    const { chain } = JSON.parse(whoami.stdout) as { chain: string };
    const revoked = await warden.cli(['revoke', '--chain', chain, '--reason', 'laptop lost']);
    assert.equal(revoked.code, 0, revoked.stderr);
    const started = Date.now();
    await Promise.race([
      exited,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`the watch is still running 5 s after the revocation; gateway log:\n${warden.output().slice(-3000)}`)), 5000)),
    ]);
    assert.ok(Date.now() - started < 5000);
    const after = await kubectl(['get', 'pods'], frank);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /Unauthorized|must be logged in|revoked/);
  });

  it('refuses by policy, impersonation, a forged token and a path written to read one way to a proxy and another to the API server', async () => {
    const alice = await token();
    const system = await kubectl(['get', 'pods', '-n', 'kube-system'], alice);
    assert.notEqual(system.code, 0);
    assert.match(system.stderr, /Forbidden.*kube-system is for cluster administrators/);

    const impersonating = await kubectl(['get', 'pods', '--as', 'system:admin'], alice);
    assert.notEqual(impersonating.code, 0);
    assert.match(impersonating.stderr, /impersonation/);
    assert.ok(!cluster.requests.some((request) => 'impersonate-user' in request.headers));

    const forged = await kubectl(['get', 'pods'], `${alice.slice(0, -4)}AAAA`);
    assert.notEqual(forged.code, 0);
    assert.match(forged.stderr, /Unauthorized|must be logged in/);

    const seen = cluster.requests.length;
    const smuggled = await kubectl(['get', '--raw', `/clusters/${CLUSTER}/api/v1/namespaces/default/pods/..%2f..%2fsecrets`], alice);
    assert.notEqual(smuggled.code, 0);
    assert.match(smuggled.stderr, /Warden refused the request/);
    assert.ok(!cluster.requests.slice(seen).some((request) => request.path.includes('..')));

    const still = await kubectl(['get', 'pods'], alice);
    assert.equal(still.code, 0, still.stderr);
  });
});
