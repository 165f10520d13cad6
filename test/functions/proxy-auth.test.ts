/**
 * Who may call the proxy routes, invoked as Lambda invokes them. In AWS (WARDEN_PROXY_ROLE_ARN
 * set) only a session of the proxy task role, as the IAM authorizer names it; locally only the
 * shared key. Each mode refuses the other's proof, and forged IAM contexts for another role or
 * account.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { wardenConfigSchema } from '../../core/config.js';
import { handler } from '../../functions/sessions-status.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { httpEvent, invoke } from './lambda-invocation.js';

const PROXY_KEY = 'test-proxy-key-0123456789';
const ROLE = 'arn:aws:iam::123456789012:role/warden/warden-proxy-task';
const SESSION = 'arn:aws:sts::123456789012:assumed-role/warden-proxy-task/0f1e2d3c4b5a69788796a5b4c3d2e1f0';

const statusRequest = (options: { iamCaller?: string; headers?: Record<string, string> }) =>
  invoke(handler, httpEvent({ method: 'POST', route: '/v1/sessions/status', body: JSON.stringify({ sessionIds: ['no-such-session'] }), headers: { 'content-type': 'application/json', ...options.headers }, ...(options.iamCaller ? { iamCaller: options.iamCaller } : {}) }));

const admitted = async (options: Parameters<typeof statusRequest>[0]) => {
  const response = await statusRequest(options);
  if (response.statusCode === 401) {
    assert.deepEqual(JSON.parse(response.body!), { error: 'UNAUTHENTICATED_PROXY', message: 'this route is for the Warden proxy fleet only' });
    return false;
  }
  assert.equal(response.statusCode, 200, response.body);
  assert.deepEqual(JSON.parse(response.body!), { end: [{ sessionId: 'no-such-session', reason: 'the control plane does not know this session' }] });
  return true;
};

describe('proxy routes: the proxy fleet only', () => {
  let dir: string;
  let store: EmbeddedDynalite;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-proxy-auth-'));
    store = await startDynalite({});
    const runtime = await buildRuntime({ config: wardenConfigSchema.parse({}), stateDir: dir, storeEndpoint: store.endpoint, proxyKey: PROXY_KEY, policy: await loadPolicyFile(undefined) });
    await ensureTables(runtime.client, 'warden');
    configureRuntime(runtime);
  });

  afterEach(() => {
    delete process.env.WARDEN_PROXY_ROLE_ARN;
  });

  after(async () => {
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  describe('locally (no WARDEN_PROXY_ROLE_ARN): the shared key', () => {
    it('admits the key, and nothing else', async () => {
      assert.equal(await admitted({ headers: { authorization: `Bearer ${PROXY_KEY}` } }), true);
      assert.equal(await admitted({ headers: { authorization: `Bearer ${PROXY_KEY}x` } }), false);
      assert.equal(await admitted({ headers: { authorization: PROXY_KEY } }), false, 'not a bearer credential');
      assert.equal(await admitted({}), false);
    });

    it('ignores an IAM context: locally no authorizer stands behind it', async () => {
      assert.equal(await admitted({ iamCaller: SESSION }), false);
    });
  });

  describe('in AWS (WARDEN_PROXY_ROLE_ARN): a session of the proxy task role', () => {
    it('admits a session of the role, whose ARN has no path', async () => {
      process.env.WARDEN_PROXY_ROLE_ARN = ROLE;
      assert.equal(await admitted({ iamCaller: SESSION }), true);
      assert.equal(await admitted({ iamCaller: 'arn:aws:sts::123456789012:assumed-role/warden-proxy-task/another-task' }), true);
    });

    it('refuses forged or foreign IAM contexts', async () => {
      process.env.WARDEN_PROXY_ROLE_ARN = ROLE;
      const refused = [
        'arn:aws:sts::123456789012:assumed-role/warden-control-plane/session', // another role
        'arn:aws:sts::210987654321:assumed-role/warden-proxy-task/session', // the same name in another account
        'arn:aws-cn:sts::123456789012:assumed-role/warden-proxy-task/session', // another partition
        'arn:aws:sts::123456789012:assumed-role/warden-proxy-task-2/session', // a name it is a prefix of
        'arn:aws:sts::123456789012:assumed-role/warden/session', // its path, not its name
        'arn:aws:iam::123456789012:user/warden-proxy-task', // an IAM user of that name
        ROLE, // the role's own ARN: callers are sessions
        '',
      ];
      for (const iamCaller of refused) assert.equal(await admitted({ iamCaller }), false, iamCaller || '(empty)');
    });

    it('refuses the shared key: in AWS only IAM proves the caller', async () => {
      process.env.WARDEN_PROXY_ROLE_ARN = ROLE;
      assert.equal(await admitted({ headers: { authorization: `Bearer ${PROXY_KEY}` } }), false);
      assert.equal(await admitted({}), false);
    });

    it('fails closed, with a 500 that names no internals, when the configured role is not a role ARN', async () => {
      process.env.WARDEN_PROXY_ROLE_ARN = 'warden-proxy-task';
      const response = await statusRequest({ iamCaller: SESSION });
      assert.equal(response.statusCode, 500);
      assert.deepEqual(JSON.parse(response.body!), { error: 'CONTROL_PLANE_UNAVAILABLE', message: 'internal error in the control plane' });
    });
  });
});
