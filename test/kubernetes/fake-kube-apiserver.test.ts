/**
 * The fake kube-apiserver against the real kubectl: discovery, tables, JSON output, secrets,
 * logs, a watch receiving a pushed event, exec over WebSocket (v5.channel.k8s.io) and a refused
 * token. kubectl runs with HOME in a temp dir, so no discovery cache from earlier runs is used.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PII, startFakeKubeApiserver, type FakeKubeApiserver, type RecordedRequest } from '../helpers/fake-kube-apiserver.js';

const KUBECTL = '/usr/bin/kubectl';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const AGGREGATED_DISCOVERY = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('fake kube-apiserver with the real kubectl', { skip: !existsSync(KUBECTL) && `${KUBECTL} is not installed` }, () => {
  let server: FakeKubeApiserver;
  let dir: string;
  let kubeconfig: string;
  let env: NodeJS.ProcessEnv;

  const kubectl = (args: string[], input = ''): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input);
    });
  /** Requests kubectl itself made: the installed kubectl is a dispatcher that first asks /version to pick a kubectl build. */
  const fromKubectl = () => server.requests.filter((r) => String(r.headers['user-agent']).startsWith('kubectl/v1.32'));
  const last = (predicate: (r: RecordedRequest) => boolean) => server.requests.filter(predicate).at(-1);

  before(async () => {
    server = await startFakeKubeApiserver();
    dir = await mkdtemp(join(tmpdir(), 'warden-kube-'));
    const home = join(dir, 'home');
    await mkdir(home);
    kubeconfig = join(dir, 'kubeconfig');
    await server.kubeconfig(kubeconfig);
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('kubectl version shows the server version', async () => {
    const run = await kubectl(['version']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Server Version: v1\.32\.4/);
    assert.ok(fromKubectl().some((r) => r.path === '/version'));
  });

  it('kubectl get pods: discovery falls back from aggregated to legacy, and the list comes as a Table', async () => {
    const run = await kubectl(['get', 'pods']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    assert.deepEqual(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 3)), [
      ['api-0', '1/1', 'Running'],
      ['web-0', '1/1', 'Running'],
    ]);

    const paths = fromKubectl().map((r) => r.path);
    for (const path of ['/api', '/apis', '/api/v1', '/apis/apps/v1']) assert.ok(paths.includes(path), `no discovery request for ${path}`);
    assert.ok(paths.indexOf('/api/v1') > paths.indexOf('/api'), 'group versions are fetched after the aggregated attempt');
    assert.ok(String(last((r) => r.path === '/api')!.headers.accept).startsWith(AGGREGATED_DISCOVERY));
    const list = last((r) => r.path === '/api/v1/namespaces/default/pods')!;
    assert.ok(String(list.headers.accept).startsWith(TABLE_ACCEPT));
    assert.equal(list.status, 200);
  });

  it('kubectl get pods -o json and -A', async () => {
    const run = await kubectl(['get', 'pods', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const list = JSON.parse(run.stdout) as { kind: string; items: { kind: string; metadata: { name: string; resourceVersion: string; uid: string } }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(list.items.map((pod) => pod.metadata.name), ['api-0', 'web-0']);
    for (const pod of list.items) {
      assert.equal(pod.kind, 'Pod');
      assert.match(pod.metadata.resourceVersion, /^\d+$/);
      assert.match(pod.metadata.uid, /^[0-9a-f-]{36}$/);
    }
    assert.equal(last((r) => r.path === '/api/v1/namespaces/default/pods')!.headers.accept, 'application/json');

    const all = await kubectl(['get', 'pods', '-A']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^kube-system\s+coredns-0\s+1\/1\s+Running/m);
  });

  it('kubectl get secret -o jsonpath shows the base64 data', async () => {
    const run = await kubectl(['get', 'secret', 'customer-contact', '-o', 'jsonpath={.data}']);
    assert.equal(run.code, 0, run.stderr);
    const data = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(Buffer.from(data.email!, 'base64').toString(), PII.email);
    assert.equal(Buffer.from(data['card-number']!, 'base64').toString(), PII.card);
  });

  it('missing objects and unknown resources are NotFound Status objects', async () => {
    const missing = await kubectl(['get', 'pod', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);
    const unknown = await kubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NotFound.*the server could not find the requested resource/);
  });

  it('kubectl logs, whole and --tail', async () => {
    const run = await kubectl(['logs', 'web-0']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim().split('\n').length, 4);
    assert.ok(run.stdout.includes(`email=${PII.email}`));
    assert.ok(run.stdout.includes(`card=${PII.card}`));
    assert.deepEqual(last((r) => r.path.endsWith('/log'))!.query, { container: 'web' });

    const tail = await kubectl(['logs', 'web-0', '--tail=1']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(tail.stdout.trim().split('\n').length, 1);
    assert.match(tail.stdout, /declined\n$/);
  });

  it('kubectl get pods --watch prints a pushed MODIFIED event', async () => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '--watch'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the watch request', () => server.requests.some((r) => r.query.watch === 'true'));
      const watch = last((r) => r.query.watch === 'true')!;
      assert.equal(watch.path, '/api/v1/namespaces/default/pods');
      assert.match(String(watch.query.resourceVersion), /^\d+$/);
      assert.ok(String(watch.headers.accept).startsWith(TABLE_ACCEPT));

      const pod = server.pod('default', 'web-0')!;
      const status = pod.status.containerStatuses![0]!;
      status.ready = false;
      status.restartCount = 4;
      status.state = { waiting: { reason: 'CrashLoopBackOff' } };
      server.emitPodEvent('MODIFIED', pod);
      await waitFor(`the MODIFIED row (stdout so far: ${JSON.stringify(stdout)}, stderr: ${JSON.stringify(stderr)})`, () =>
        /^web-0\s+0\/1\s+CrashLoopBackOff\s+4\s/m.test(stdout),
      );
      assert.match(stdout, /^web-0\s+1\/1\s+Running/m, 'the initial list was printed first');
    } finally {
      child.kill();
      await exited;
    }
  });

  it('kubectl exec -- echo hello: over WebSocket, subprotocol v5.channel.k8s.io', async () => {
    const run = await kubectl(['exec', 'web-0', '--', 'echo', 'hello']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello\n');

    const exec = last((r) => r.path === '/api/v1/namespaces/default/pods/web-0/exec')!;
    assert.equal(exec.method, 'GET');
    assert.equal(String(exec.headers.upgrade).toLowerCase(), 'websocket');
    assert.equal(exec.headers['sec-websocket-protocol'], 'v5.channel.k8s.io');
    assert.deepEqual(exec.query, { command: ['echo', 'hello'], container: 'web', stdout: 'true', stderr: 'true' });
    assert.equal(exec.status, 101);
    assert.ok(!server.requests.some((r) => /spdy/i.test(String(r.headers.upgrade))), 'kubectl did not fall back to SPDY');
    const session = server.execs.at(-1)!;
    assert.equal(session.protocol, 'v5.channel.k8s.io');
    assert.equal(session.exitCode, 0);
  });

  it('kubectl exec -- sh -c "exit 3" exits 3', async () => {
    const run = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'exit 3']);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /command terminated with exit code 3/);
  });

  it('kubectl exec keeps stdout and stderr apart, and an unknown program exits 127', async () => {
    const run = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo out; echo err >&2; false || echo fallback']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'out\nfallback\n');
    assert.equal(run.stderr, 'err\n');

    const unknown = await kubectl(['exec', 'web-0', '--', 'nosuchprogram']);
    assert.equal(unknown.code, 127);
    assert.match(unknown.stderr, /nosuchprogram/);
  });

  it('kubectl exec -i -- cat copies stdin until kubectl closes it', async () => {
    const input = 'first line\nsecond line\n';
    const run = await kubectl(['exec', '-i', 'web-0', '--', 'cat'], input);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, input);
    const session = server.execs.at(-1)!;
    assert.equal(session.stdin, true);
    assert.equal(session.input, input);
  });

  it('a wrong token gets 401 Unauthorized', async () => {
    const run = await kubectl(['--token', 'not-the-token', 'get', 'pods']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Unauthorized/);
    const refused = last((r) => r.path === '/api/v1/namespaces/default/pods')!;
    assert.equal(refused.headers.authorization, 'Bearer not-the-token');
    assert.equal(refused.status, 401);
  });
});
