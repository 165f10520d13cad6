/**
 * The proxy's control-plane client: its SigV4 signing, checked by a local HTTP server that
 * verifies the signature as the HTTP API's IAM authorizer does (the same SignatureV4 library,
 * the same static credentials, the payload hash recomputed from the body received); its shared
 * key; settle(), which a stopping proxy waits on; failing closed when no answer comes; and how
 * commands from many sessions share one /v1/authorize request.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AuthorizeCommand } from '../../core/contract.js';
import { sharedKey, sigV4 } from '../../proxy-fleet/control-plane-auth.js';
import { ControlPlaneClient } from '../../proxy-fleet/control-plane-client.js';
import { ControlPlaneRefusal } from '../../proxy-fleet/errors.js';

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'ASIAWARDENTESTKEY01', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWARDENTEST', sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE-session-token' };
const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/;

/** Verifies a request's SigV4 signature the way API Gateway does: recompute it from what arrived. */
async function verifySigV4(request: IncomingMessage, body: Buffer): Promise<boolean> {
  const authorization = request.headers.authorization ?? '';
  const match = AUTHORIZATION.exec(authorization);
  if (!match) return false;
  const [, accessKeyId, , region, service, signedHeaders] = match;
  if (accessKeyId !== CREDENTIALS.accessKeyId || region !== REGION || service !== 'execute-api') return false;
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) headers[name] = String(request.headers[name] ?? '');
  // Never trust the client's claim about the body: hash what was received.
  if ('x-amz-content-sha256' in headers) headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(headers['x-amz-date'] ?? '');
  if (!date) return false;
  const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
  const verifier = new SignatureV4({ service, region, credentials: CREDENTIALS, sha256: Sha256 });
  const expected = await verifier.sign(
    { method: request.method ?? '', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: body.toString('utf8') },
    { signingDate: new Date(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`) },
  );
  return expected.headers.authorization === authorization;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('ControlPlaneClient', () => {
  describe('SigV4 (AWS: the HTTP API authorizes proxy routes with IAM)', () => {
    let server: Server;
    let url: string;
    const seen: IncomingMessage[] = [];

    before(async () => {
      // The proxy routes behind an IAM authorizer: 403 {"message":"Forbidden"} unless the signature verifies.
      server = createServer((request, response) => {
        readBody(request)
          .then(async (body) => {
            seen.push(request);
            const verified = await verifySigV4(request, body);
            response.writeHead(verified ? 200 : 403, { 'content-type': 'application/json' });
            response.end(JSON.stringify(verified ? { end: [] } : { message: 'Forbidden' }));
          })
          .catch(() => response.destroy());
      });
      url = await listen(server);
    });

    after(() => server.close());

    it('signs each request with the credentials the provider gives, so the verifier accepts it', async () => {
      let asked = 0;
      const provider = async () => {
        asked += 1;
        return CREDENTIALS;
      };
      const client = new ControlPlaneClient({ url, auth: sigV4({ region: REGION, credentials: provider }) });
      assert.deepEqual(await client.sessionsToEnd(['a']), []);
      assert.deepEqual(await client.sessionsToEnd(['b']), []);
      assert.equal(asked, 2, 'credentials are asked for per request: the provider refreshes them');
      const last = seen.at(-1)!;
      const [, , day, region, service, signedHeaders] = AUTHORIZATION.exec(last.headers.authorization ?? '')!;
      assert.equal(day, String(last.headers['x-amz-date']).slice(0, 8));
      assert.deepEqual([region, service], [REGION, 'execute-api']);
      assert.equal(signedHeaders, 'content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token');
      assert.equal(last.headers['x-amz-security-token'], CREDENTIALS.sessionToken);
    });

    it('fails verification when the body is changed after signing', async () => {
      const auth = sigV4({ region: REGION, credentials: CREDENTIALS });
      const target = new URL(`${url}/v1/sessions/status`);
      const signed = await auth({ method: 'POST', url: target, headers: { 'content-type': 'application/json' }, body: '{"sessionIds":["mine"]}' });
      const send = (body: string, to = target) => fetch(to, { method: 'POST', headers: signed, body }).then((response) => response.status);
      assert.equal(await send('{"sessionIds":["mine"]}'), 200, 'as signed');
      assert.equal(await send('{"sessionIds":["yours"]}'), 403, 'a tampered body');
      assert.equal(await send('{"sessionIds":["mine"]}', new URL(`${url}/v1/authorize`)), 403, 'another route');
    });

    it('is refused, and fails closed as unavailable, with the wrong secret', async () => {
      const client = new ControlPlaneClient({ url, auth: sigV4({ region: REGION, credentials: { ...CREDENTIALS, secretAccessKey: 'not-the-secret' } }) });
      await assert.rejects(client.sessionsToEnd(['a']), (error: unknown) => {
        assert.ok(error instanceof ControlPlaneRefusal);
        assert.equal(error.kind, 'unavailable');
        assert.equal(error.code, 'CONTROL_PLANE_UNAVAILABLE');
        assert.equal(error.message, 'the control plane answered HTTP 403 (Forbidden)');
        return true;
      });
    });

    it('fails closed when no credentials can be found', async () => {
      const client = new ControlPlaneClient({ url, auth: sigV4({ region: REGION, credentials: async () => Promise.reject(new Error('Could not load credentials from any providers')) }) });
      await assert.rejects(client.sessionsToEnd(['a']), /the Warden control plane is unreachable \(Could not load credentials from any providers\)/);
    });
  });

  describe('shared key (warden up)', () => {
    it('presents the key as a bearer credential beside the request headers', async () => {
      const headers = await sharedKey('k3y')({ method: 'POST', url: new URL('http://127.0.0.1/v1/results'), headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.deepEqual(headers, { 'content-type': 'application/json', authorization: 'Bearer k3y' });
    });
  });

  describe('settle()', () => {
    it('waits for reports still being retried, so a stopping proxy loses none', async () => {
      let attempts = 0;
      const server = createServer((request, response) => {
        void readBody(request).then(() => {
          attempts += 1;
          // The first attempt fails as a briefly unavailable store would.
          response.writeHead(attempts === 1 ? 503 : 202, { 'content-type': 'application/json' });
          response.end(attempts === 1 ? '{"error":"STORE_UNAVAILABLE","message":"try again"}' : '{"recorded":["b1.0"],"unknownSessions":[]}');
        });
      });
      const url = await listen(server);
      try {
        const client = new ControlPlaneClient({ url, auth: sharedKey('k') });
        let reported = false;
        void client.report({ sessionId: randomUUID(), commandId: 1, rows: 1, masked: {} }).then(() => (reported = true));
        await client.settle();
        assert.equal(attempts, 2);
        assert.equal(reported, true);
      } finally {
        server.close();
      }
    });
  });

  describe('results reports', () => {
    const RECORDED = { status: 202, text: '{"recorded":["b1.0"],"unknownSessions":[]}' };
    const STORE_DOWN = { status: 503, text: '{"error":"STORE_UNAVAILABLE","message":"the ledger store is unreachable"}' };
    const result = () => ({ sessionId: randomUUID(), commandId: 1, rows: 1, masked: {} });

    it('keeps a report through an outage of more than a second and records it once the control plane is back', async () => {
      const backAt = Date.now() + 1_500;
      let attempts = 0;
      const client = new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k'), transport: async () => (attempts++, Date.now() < backAt ? STORE_DOWN : RECORDED) });
      await client.report(result());
      assert.ok(attempts >= 4, `retried through the outage (${attempts} attempts)`);
    });

    it('does not retry a refusal, which would be refused again', async () => {
      let attempts = 0;
      const client = new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k'), transport: async () => (attempts++, { status: 400, text: '{"error":"INVALID_REQUEST","message":"rows: expected a number"}' }) });
      await assert.rejects(client.report(result()), { name: 'ControlPlaneRefusal', kind: 'refused', message: 'rows: expected a number' });
      assert.equal(attempts, 1);
    });

    it('gives up retrying a few seconds after the fleet settles, so a stopping task is not held for the whole retry window', { timeout: 30_000 }, async () => {
      const client = new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k'), reportRetryMs: 600_000, transport: async () => STORE_DOWN });
      const report = client.report(result());
      await client.settle();
      await assert.rejects(report, { name: 'ControlPlaneRefusal', kind: 'unavailable', message: 'the ledger store is unreachable' });
    });
  });

  describe('failing closed', () => {
    it('refuses, as unavailable, when the control plane does not answer within the timeout', async () => {
      const server = createServer(() => undefined);
      const url = await listen(server);
      try {
        const client = new ControlPlaneClient({ url, auth: sharedKey('k'), timeoutMs: 100 });
        const decision = client.authorize({ sessionId: 's', commandId: 0, kind: 'sql.query', text: 'SELECT 1' });
        await assert.rejects(decision, (error: unknown) => {
          assert.ok(error instanceof ControlPlaneRefusal, 'a refusal, so the proxy forwards nothing');
          assert.equal(error.kind, 'unavailable');
          assert.match(error.message, /unreachable \(no answer within 100 ms: it, or the ledger store behind it, is down or overloaded\)/);
          return true;
        });
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    it('holds an in-process transport to the same timeout, and refuses as unavailable when its handler throws', async () => {
      const stuck = new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k'), timeoutMs: 100, transport: () => new Promise(() => undefined) });
      await assert.rejects(stuck.authorize({ sessionId: 's', commandId: 0, kind: 'sql.query', text: 'SELECT 1' }), {
        name: 'ControlPlaneRefusal',
        kind: 'unavailable',
        message: /unreachable \(no answer within 100 ms: it, or the ledger store behind it, is down or overloaded\)/,
      });
      const broken = new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k'), transport: () => Promise.reject(new Error('store down')) });
      await assert.rejects(broken.sessionsToEnd(['a']), { kind: 'unavailable', message: /unreachable \(store down\)/ });
    });

    it('refuses, as unavailable, when nothing listens', async () => {
      const server = createServer();
      const url = await listen(server);
      server.close();
      const client = new ControlPlaneClient({ url, auth: sharedKey('k') });
      await assert.rejects(client.sessionsToEnd(['a']), /the Warden control plane is unreachable \(connect ECONNREFUSED/);
    });
  });

  describe('batching across sessions', () => {
    /** A control plane that holds each /v1/authorize until the test releases it, and answers allow. */
    async function heldControlPlane(status = () => 200) {
      const batches: AuthorizeCommand[][] = [];
      const held: (() => void)[] = [];
      let arrived: () => void = () => undefined;
      const server = createServer((request, response) => {
        void readBody(request).then((body) => {
          const { commands } = JSON.parse(body.toString()) as { commands: AuthorizeCommand[] };
          batches.push(commands);
          const code = status();
          held.push(() => {
            response.writeHead(code, { 'content-type': 'application/json' });
            const results = commands.map(({ sessionId, commandId }) => ({ sessionId, commandId, decision: 'allow', statements: [{ index: 0, decision: 'allow', entry: 'b1.0' }] }));
            response.end(JSON.stringify(code === 200 ? { results } : { error: 'STORE_UNAVAILABLE', message: 'the ledger store is unreachable' }));
          });
          arrived();
        });
      });
      const url = await listen(server);
      const nextArrival = () => new Promise<void>((resolve) => (arrived = resolve));
      const release = () => held.splice(0).forEach((answer) => answer());
      return { url, batches, nextArrival, release, close: () => server.close() };
    }

    const command = (session: number): AuthorizeCommand => ({ sessionId: `s${session}`, commandId: 0, kind: 'sql.query', text: 'SELECT 1' });

    it('sends the commands of 16 sessions, asked in separate turns while a request is in flight, in one request', async () => {
      const plane = await heldControlPlane();
      try {
        const client = new ControlPlaneClient({ url: plane.url, auth: sharedKey('k'), maxInFlight: 1 });
        const first = plane.nextArrival();
        const decisions = [client.authorize(command(0))];
        await first;
        for (let session = 1; session < 16; session += 1) {
          decisions.push(client.authorize(command(session)));
          await nextTurn();
        }
        const second = plane.nextArrival();
        plane.release();
        await second;
        plane.release();
        const answered = await Promise.all(decisions);
        assert.deepEqual(
          plane.batches.map((batch) => batch.length),
          [1, 15],
          'the 15 that came while the first was in flight wait and share one request',
        );
        assert.deepEqual(
          answered.map((decision) => [decision.sessionId, decision.decision]),
          decisions.map((_, session) => [`s${session}`, 'allow']),
          'each session gets its own answer',
        );
      } finally {
        plane.close();
      }
    });

    it('fails closed for the commands of a refused request, and still sends the ones waiting behind it', async () => {
      let requests = 0;
      const plane = await heldControlPlane(() => (++requests === 1 ? 503 : 200));
      try {
        const client = new ControlPlaneClient({ url: plane.url, auth: sharedKey('k'), maxInFlight: 1 });
        const first = plane.nextArrival();
        const refused = client.authorize(command(0));
        await first;
        const waiting = client.authorize(command(1));
        await nextTurn();
        const second = plane.nextArrival();
        plane.release();
        await assert.rejects(refused, (error: unknown) => error instanceof ControlPlaneRefusal && error.kind === 'unavailable', 'no decision, nothing forwarded');
        await second;
        plane.release();
        assert.equal((await waiting).decision, 'allow', 'the waiting command went in the next request');
        assert.equal(plane.batches.length, 2, 'two requests');
      } finally {
        plane.close();
      }
    });
  });
});
