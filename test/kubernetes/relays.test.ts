/**
 * The gateway's two relays against small local clusters that send exactly the bytes each case
 * needs: channel frames split mid-value, malformed frames, refused upgrades, non-JSON answers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { contentDetectors } from '../../core/masking/detectors.js';
import { jsonOnlyAccept, relayHttp } from '../../proxy-fleet/kubernetes/http-relay.js';
import { describeRequest } from '../../proxy-fleet/kubernetes/request-info.js';
import { KubernetesUpstream } from '../../proxy-fleet/kubernetes/upstream.js';
import { relayWebSocket, type WebSocketOutcome } from '../../proxy-fleet/kubernetes/websocket-relay.js';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';
import forge from 'node-forge';

const tls = selfSignedCertificate(['127.0.0.1']);
const EMAIL = 'jane.doe@example.com';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A cluster whose WebSocket end runs `script` on each accepted exec, and whose plain end answers with `answer`. */
function fakeCluster(script: (socket: WebSocket, request: IncomingMessage) => void, answer: (request: IncomingMessage, response: ServerResponse) => void): Server {
  const server = createServer({ cert: tls.cert, key: tls.key });
  const sockets = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : false) });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (request.url?.includes('refuse')) {
      const body = JSON.stringify({ kind: 'Status', status: 'Failure', message: 'pods "nope" not found', reason: 'NotFound', code: 404 });
      socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    sockets.handleUpgrade(request, socket, head, (accepted) => script(accepted, request));
  });
  server.on('request', answer);
  return server;
}

/** The gateway end: relays every upgrade and request to `upstream`, and hands over each outcome. */
function gatewayFor(upstream: KubernetesUpstream, outcomes: WebSocketOutcome[]): Server {
  const server = createServer({ cert: tls.cert, key: tls.key });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    void relayWebSocket(request, socket, head, upstream, request.url!, true, contentDetectors, new AbortController().signal).then((outcome) => outcomes.push(outcome));
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    relayHttp(request, response, upstream, describeRequest(request.method!, request.url!), request.url!, contentDetectors, new AbortController().signal).then(
      (outcome) => outcomes.push(outcome as WebSocketOutcome),
      (error: Error) => response.writeHead(502).end(error.message),
    );
  });
  return server;
}

interface Received {
  frames: Buffer[];
  close: { code: number; reason: string };
}

function exec(url: string, path: string, protocols = ['v5.channel.k8s.io']): Promise<Received | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(`${url.replace('https', 'wss')}${path}`, protocols, { ca: tls.cert });
    const frames: Buffer[] = [];
    client.on('message', (data) => frames.push(data as Buffer));
    client.on('close', (code, reason) => resolve({ frames, close: { code, reason: reason.toString() } }));
    client.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    client.on('error', reject);
  });
}

const frame = (channel: number, text: string) => Buffer.concat([Buffer.from([channel]), Buffer.from(text)]);
const EXIT_3 = JSON.stringify({ metadata: {}, status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });

describe('kubernetes relays', () => {
  let cluster: Server;
  let gateway: Server;
  let gatewayUrl: string;
  const outcomes: WebSocketOutcome[] = [];

  before(async () => {
    cluster = fakeCluster(
      (socket, request) => {
        if (socket.protocol !== 'v5.channel.k8s.io') return socket.close(1002);
        // The email arrives split across two stdout frames, then the exit status.
        socket.send(frame(1, 'mail jane.doe@exa'));
        socket.send(frame(1, 'mple.com done\n'));
        socket.send(frame(2, 'warning\n'));
        if (request.url?.includes('malformed')) socket.send(Buffer.from([9, 0x41]));
        socket.send(frame(3, EXIT_3));
        socket.close(1000);
      },
      (request, response) => {
        if (request.url!.includes('/log')) {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.write('user jane.doe@');
          setTimeout(() => response.end('example.com logged in\n'), 20);
        } else if (request.url!.includes('protobuf')) {
          response.writeHead(200, { 'content-type': 'application/vnd.kubernetes.protobuf' });
          response.end(Buffer.from('k8s\0secret-bytes'));
        } else {
          response.writeHead(200, { 'content-type': 'application/json', 'x-accept-seen': String(request.headers.accept) });
          response.end(JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [{ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, data: { email: Buffer.from(EMAIL).toString('base64') } }] }));
        }
      },
    );
    const upstream = new KubernetesUpstream({ server: await listen(cluster), ca: tls.cert, token: 'cluster-token' });
    gateway = gatewayFor(upstream, outcomes);
    gatewayUrl = await listen(gateway);
  });

  after(async () => {
    gateway.closeAllConnections();
    cluster.closeAllConnections();
    await Promise.all([new Promise((resolve) => gateway.close(resolve)), new Promise((resolve) => cluster.close(resolve))]);
  });

  it('masks stdout across frames, keeps output before the exit status, and reads the exit code', async () => {
    const received = (await exec(gatewayUrl, '/api/v1/namespaces/default/pods/web/exec?command=x&stdout=true')) as Received;
    const stdout = received.frames.filter((f) => f[0] === 1).map((f) => f.subarray(1).toString()).join('');
    assert.ok(!stdout.includes(EMAIL), stdout);
    assert.equal(stdout, 'mail [masked:email] done\n');
    const channels = received.frames.map((f) => f[0]);
    assert.ok(channels.lastIndexOf(1) < channels.indexOf(3), 'stdout before the status');
    await waitForOutcome(outcomes, 1);
    assert.equal(outcomes[0]!.exitStatus, 3);
    assert.equal(outcomes[0]!.httpStatus, 101);
    assert.ok(Object.values(outcomes[0]!.masked).reduce((a, b) => a + b, 0) >= 1);
  });

  it('closes the stream with 1011 on a frame it cannot parse, passing nothing of it on', async () => {
    const received = (await exec(gatewayUrl, '/api/v1/namespaces/default/pods/web/exec?command=malformed&stdout=true')) as Received;
    assert.equal(received.close.code, 1011);
    assert.match(received.close.reason, /unreadable frame/);
    assert.ok(!received.frames.some((f) => f[0] === 9));
  });

  it("passes the cluster's refusal of an upgrade on, status and body", async () => {
    const refused = (await exec(gatewayUrl, '/api/v1/namespaces/default/pods/refuse/exec?command=x')) as { status: number; body: string };
    assert.equal(refused.status, 404);
    assert.match(refused.body, /pods \\"nope\\" not found/);
  });

  it('refuses a client that offers no channel protocol it can inspect', async () => {
    const refused = (await exec(gatewayUrl, '/api/v1/namespaces/default/pods/web/exec?command=x', ['binary.k8s.io'])) as { status: number; body: string };
    assert.equal(refused.status, 400);
    assert.match(refused.body, /none of the offered WebSocket subprotocols/);
  });

  it('asks for JSON only, masks Secret data in a list, and refuses an answer it cannot inspect', async () => {
    const list = await fetchInsecure(`${gatewayUrl}/api/v1/namespaces/default/secrets`, 'application/vnd.kubernetes.protobuf, application/json;as=Table;v=v1;g=meta.k8s.io');
    assert.equal(list.status, 200);
    assert.equal(list.headers['x-accept-seen'], 'application/json;as=Table;v=v1;g=meta.k8s.io');
    assert.ok(!list.body.includes(Buffer.from(EMAIL).toString('base64')));
    const protobuf = await fetchInsecure(`${gatewayUrl}/api/v1/namespaces/default/secrets/protobuf`, 'application/json');
    assert.equal(protobuf.status, 502);
    assert.ok(!protobuf.body.includes('secret-bytes'));
    assert.match(protobuf.body, /only JSON is passed on/);
  });

  it('masks a log value split across chunks', async () => {
    const logs = await fetchInsecure(`${gatewayUrl}/api/v1/namespaces/default/pods/web/log`, '*/*');
    assert.equal(logs.status, 200);
    assert.ok(!logs.body.includes(EMAIL), logs.body);
    assert.equal(logs.body, 'user [masked:email] logged in\n');
  });

  it('keeps only JSON media types from an Accept header', () => {
    assert.equal(jsonOnlyAccept('application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json'), 'application/json');
    assert.equal(jsonOnlyAccept('application/yaml'), 'application/json');
    assert.equal(jsonOnlyAccept(undefined), 'application/json');
  });
});

describe('kubernetes upstream with a client certificate', () => {
  it('presents the configured certificate to an API server that requires one', async () => {
    const client = clientCertificate('warden-gateway');
    const cluster = createServer({ cert: tls.cert, key: tls.key, ca: client.cert, requestCert: true, rejectUnauthorized: true }, (request, response) => {
      const peer = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ gitVersion: 'v1.32.0', seenClient: peer.subject?.CN }));
    });
    const withCertificate = new KubernetesUpstream({ server: await listen(cluster), ca: tls.cert, cert: client.cert, key: client.key });
    const without = new KubernetesUpstream({ server: withCertificate.target.server, ca: tls.cert });
    const outcomes: WebSocketOutcome[] = [];
    const gateways = [gatewayFor(withCertificate, outcomes), gatewayFor(without, outcomes)];
    try {
      const [good, bad] = await Promise.all(gateways.map(listen));
      const answered = await fetchInsecure(`${good}/version`, 'application/json');
      assert.equal(answered.status, 200);
      assert.equal((JSON.parse(answered.body) as { seenClient: string }).seenClient, 'warden-gateway');
      const refused = await fetchInsecure(`${bad}/version`, 'application/json');
      assert.equal(refused.status, 502);
      assert.match(refused.body, /certificate required/);
    } finally {
      for (const server of [...gateways, cluster]) {
        server.closeAllConnections();
        server.close();
      }
      withCertificate.close();
      without.close();
    }
  });
});

/** A certificate for TLS client authentication, signed by its own key. */
function clientCertificate(commonName: string): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = '01';
  certificate.validity.notBefore = new Date(Date.now() - 60_000);
  certificate.validity.notAfter = new Date(Date.now() + 86_400_000);
  const subject = [{ name: 'commonName', value: commonName }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', digitalSignature: true, keyCertSign: true }, { name: 'extKeyUsage', clientAuth: true }]);
  certificate.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(certificate), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

async function waitForOutcome(outcomes: unknown[], count: number): Promise<void> {
  for (let i = 0; i < 200 && outcomes.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(outcomes.length >= count, 'the relay reported an outcome');
}

async function fetchInsecure(url: string, accept: string): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(url, { ca: tls.cert, headers: { accept } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
    })
      .on('error', reject)
      .end();
  });
}
