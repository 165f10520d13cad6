/**
 * Powertools logs and metrics around every handler, seen from outside: each invocation runs in
 * a child process whose stdout and stderr are read whole. In Lambda (AWS_LAMBDA_FUNCTION_NAME
 * set) an invocation writes one EMF document with its route's count and latency; elsewhere
 * (`warden up`) it writes none. Logs carry the Lambda context and never the request.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { httpEvent, type HttpEventOptions } from './lambda-invocation.js';

const fixture = new URL('./fixtures/invoke-once.ts', import.meta.url).pathname;
const ROLE = 'arn:aws:iam::123456789012:role/warden-proxy-task';
// What the Lambda runtime sets for an on-demand function.
const LAMBDA = { AWS_LAMBDA_FUNCTION_NAME: 'warden-test', AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' };

interface Invocation {
  readonly result: { statusCode: number; body: string };
  /** stdout without the RESULT line. */
  readonly stdout: string[];
  readonly stderr: string[];
  readonly requestId: string;
}

function invokeOnce(entry: string, event: HttpEventOptions, env: Record<string, string>): Promise<Invocation> {
  const requestId = randomUUID();
  // Only what this test sets: no Lambda or Powertools variables from the caller's environment.
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AWS_LAMBDA_|POWERTOOLS_|WARDEN_)/.test(name)));
  const argument = JSON.stringify({ entry, event: httpEvent(event), requestId });
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', fixture, argument], { env: { ...base, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      const lines = (text: string) => text.split('\n').filter((line) => line.length > 0);
      const out = lines(stdout);
      const result = out.find((line) => line.startsWith('RESULT '));
      if (!result) return reject(new Error(`no RESULT line:\n${stdout}\n${stderr}`));
      resolve({ result: JSON.parse(result.slice(7)) as Invocation['result'], stdout: out.filter((line) => line !== result), stderr: lines(stderr), requestId });
    });
  });
}

/** A proxy route called with a forged IAM context: refused before any store or runtime is needed. */
const forgedProxyCall: HttpEventOptions = {
  method: 'POST',
  route: '/v1/sessions/status',
  headers: { 'content-type': 'application/json' },
  body: '{"sessionIds":[]}',
  iamCaller: 'arn:aws:sts::123456789012:assumed-role/someone-else/session',
};

const emfDocuments = (lines: readonly string[]) => lines.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } });

describe('observability', { concurrency: true }, () => {
  it('prints no EMF outside Lambda, as under warden up', async () => {
    const { result, stdout, stderr } = await invokeOnce('sessions-status.ts', forgedProxyCall, { WARDEN_PROXY_ROLE_ARN: ROLE });
    assert.equal(result.statusCode, 401);
    assert.deepEqual(stdout, [], 'nothing on stdout but the result');
    assert.deepEqual(stderr, []);
  });

  it("emits one EMF document per Lambda invocation, with the route's count and latency", async () => {
    const { result, stdout } = await invokeOnce('sessions-status.ts', forgedProxyCall, { ...LAMBDA, WARDEN_PROXY_ROLE_ARN: ROLE });
    assert.equal(result.statusCode, 401);
    assert.equal(stdout.length, 1, stdout.join('\n'));
    const [document] = emfDocuments(stdout);
    assert.ok(document, stdout[0]);
    assert.deepEqual(document._aws.CloudWatchMetrics, [
      {
        Namespace: 'Warden',
        Dimensions: [['service', 'route']],
        Metrics: [
          { Name: 'Requests', Unit: 'Count' },
          { Name: 'Latency', Unit: 'Milliseconds' },
        ],
      },
    ]);
    assert.equal(document.service, 'warden-control-plane');
    assert.equal(document.route, 'POST /v1/sessions/status');
    assert.equal(document.Requests, 1);
    assert.ok(typeof document.Latency === 'number' && document.Latency >= 0);
    assert.equal(document.statusCode, '401');
  });

  it('takes the namespace and service from POWERTOOLS_*, and POWERTOOLS_METRICS_DISABLED turns EMF off in Lambda too', async () => {
    const named = await invokeOnce('sessions-status.ts', forgedProxyCall, { ...LAMBDA, WARDEN_PROXY_ROLE_ARN: ROLE, POWERTOOLS_METRICS_NAMESPACE: 'WardenStaging', POWERTOOLS_SERVICE_NAME: 'warden-staging' });
    const [document] = emfDocuments(named.stdout);
    assert.equal(document?._aws.CloudWatchMetrics[0]?.Namespace, 'WardenStaging');
    assert.equal(document?.service, 'warden-staging');
    const disabled = await invokeOnce('sessions-status.ts', forgedProxyCall, { ...LAMBDA, WARDEN_PROXY_ROLE_ARN: ROLE, POWERTOOLS_METRICS_DISABLED: 'true' });
    assert.deepEqual(disabled.stdout, []);
  });

  it('logs an unhandled error as JSON with the Lambda context, and never the request', async () => {
    const secret = `eyJ.subject-token-${randomUUID()}`;
    const bearer = `bearer-${randomUUID()}`;
    // No runtime is configured in the child, so the handler fails: an internal error, a 500.
    const { result, stdout, stderr, requestId } = await invokeOnce(
      'token.ts',
      { method: 'POST', route: '/v1/token', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${bearer}` }, body: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=${secret}` },
      // Even when asked to log events: they carry tokens.
      { ...LAMBDA, POWERTOOLS_LOGGER_LOG_EVENT: 'true' },
    );
    assert.equal(result.statusCode, 500);
    assert.deepEqual(JSON.parse(result.body), { error: 'temporarily_unavailable', error_description: 'internal error in the control plane' });
    assert.equal(stderr.length, 1, stderr.join('\n'));
    const log = JSON.parse(stderr[0]!) as Record<string, unknown> & { error: { name: string; message: string } };
    assert.equal(log.level, 'ERROR');
    assert.equal(log.message, 'unhandled control-plane error');
    assert.equal(log.service, 'warden-control-plane');
    assert.equal(log.function_name, 'warden-test');
    assert.equal(log.function_request_id, requestId);
    assert.equal(log.cold_start, true);
    // Nothing configured the runtime and the environment has none of its variables: the cold-start build names them.
    assert.match(log.error.message, /WARDEN_TABLE_PREFIX is not set/);
    assert.equal(emfDocuments(stdout)[0]?.route, 'POST /v1/token');
    const everything = [...stdout, ...stderr].join('\n');
    assert.ok(!everything.includes(secret), 'the request body is never logged');
    assert.ok(!everything.includes(bearer), 'the request headers are never logged');
  });
});
