/** GET /.well-known/openid-configuration and /.well-known/jwks.json over the local HTTP adapter, without a credential. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { wardenConfigSchema } from '../../core/config.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime, type Runtime } from '../../functions/lib/runtime.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';

describe('the token issuer metadata', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let api: LocalApi;
  let runtime: Runtime;

  const get = async (path: string) => {
    const response = await fetch(`${api.url}${path}`);
    return { status: response.status, cacheControl: response.headers.get('cache-control'), body: (await response.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-well-known-'));
    store = await startDynalite({});
    const config = wardenConfigSchema.parse({ tokens: { issuer: 'https://warden.example/' }, connections: { app: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' } } });
    runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: 'unused-proxy-key-0123456789', policy: await loadPolicyFile(undefined) });
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await api.close();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('names the issuer and its key set (OpenID Connect Discovery)', async () => {
    const { status, cacheControl, body } = await get('/.well-known/openid-configuration');
    assert.equal(status, 200);
    assert.deepEqual(body, { issuer: 'https://warden.example/', jwks_uri: 'https://warden.example/.well-known/jwks.json' });
    assert.equal(cacheControl, 'public, max-age=300');
  });

  it('serves a key set that verifies the tokens the service issues, and only those', async () => {
    const { status, body } = await get('/.well-known/jwks.json');
    assert.equal(status, 200);
    const jwks = body as unknown as JSONWebKeySet;
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]?.d, undefined, 'no private key material');
    const { token } = await runtime.tokens.issue({ sub: 'alice', groups: [], audience: ['app'], scope: 'connect' });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'https://warden.example/', audience: 'app' });
    assert.equal(payload.sub, 'alice');
    const [header, claims] = token.split('.');
    await assert.rejects(jwtVerify(`${header}.${claims}.${'A'.repeat(86)}`, createLocalJWKSet(jwks)));
  });
});
