/**
 * DESIGN.md invariant 6, one code path: the local adapter runs the very `handler` each Lambda
 * entry file exports, and a request gets the same answer through the adapter as from a direct
 * Lambda invocation of that handler.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Handler } from 'aws-lambda';
import { wardenConfigSchema } from '../../core/config.js';
import { loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime } from '../../functions/lib/runtime.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';
import { routes } from '../../functions/routes.js';
import { httpEvent, invoke, type HttpEventOptions } from './lambda-invocation.js';

describe('the same handler modules locally and in Lambda', () => {
  let dir: string;
  let api: LocalApi;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-same-handlers-'));
    // No store behind it: these requests are refused before any store call.
    const runtime = await buildRuntime({ config: wardenConfigSchema.parse({}), stateDir: dir, storeEndpoint: 'http://127.0.0.1:9', proxyKey: 'test-proxy-key-0123456789', policy: await loadPolicyFile(undefined) });
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves every route with the handler its Lambda entry file exports, the same function object", async () => {
    for (const route of routes) {
      const { handler: served } = await route.load();
      const { handler: entry } = (await import(`../../functions/${route.entry}`)) as { handler: Handler };
      assert.equal(typeof entry, 'function', route.entry);
      assert.equal(served, entry, `${route.method} ${route.path}: route.load() and functions/${route.entry} differ`);
    }
  });

  /** The same request through the local adapter and as a Lambda invocation of the route's handler. */
  const bothWays = async (options: HttpEventOptions & { path: string }) => {
    const route = routes.find((r) => r.method === options.method && r.path === options.route)!;
    const local = await fetch(`${api.url}${options.path}`, { method: options.method, headers: options.headers ?? {}, ...(options.body === undefined ? {} : { body: options.body }) });
    const direct = await invoke((await route.load()).handler, httpEvent(options));
    return {
      local: { status: local.status, contentType: local.headers.get('content-type'), body: await local.text() },
      direct: { status: direct.statusCode, contentType: direct.headers?.['content-type'], body: direct.body },
    };
  };

  it('answers a bad token exchange the same both ways (RFC 6749 §5.2)', async () => {
    const { local, direct } = await bothWays({ method: 'POST', route: '/v1/token', path: '/v1/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password&subject_token=x' });
    assert.equal(local.status, 400);
    assert.equal(JSON.parse(local.body).error, 'invalid_request');
    assert.deepEqual(direct, local);
  });

  it('refuses every proxy route without the proxy credential the same both ways', async () => {
    const proxyRoutes = routes.filter((route) => route.audience === 'proxy');
    assert.ok(proxyRoutes.length >= 6);
    for (const route of proxyRoutes) {
      const pathParameters = Object.fromEntries([...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name!, 'a6b0c6d2-0000-4000-8000-000000000000']));
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => pathParameters[name]!);
      const { local, direct } = await bothWays({ method: route.method, route: route.path, path, pathParameters, headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(local.status, 401, `${route.method} ${route.path}`);
      assert.deepEqual(JSON.parse(local.body), { error: 'UNAUTHENTICATED_PROXY', message: 'this route is for the Warden proxy fleet only' });
      assert.deepEqual(direct, local, `${route.method} ${route.path}`);
    }
  });
});
