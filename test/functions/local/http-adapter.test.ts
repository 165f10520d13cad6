/**
 * The local adapter answers the same over HTTP and in process (invokeLocal, which warden up's
 * proxies use): unknown routes, malformed paths and oversized bodies get the same refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invokeLocal, startLocalApi, type LocalApi } from '../../../functions/local/http-adapter.js';

describe('local API adapter', () => {
  let api: LocalApi;
  before(async () => {
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
  });
  after(() => api.close());

  const cases = [
    { name: 'an unknown route', method: 'POST', path: '/v1/nothing-here', body: '{}', status: 404, error: 'NOT_FOUND', message: /no route POST \/v1\/nothing-here/ },
    { name: 'a malformed percent-encoding', method: 'POST', path: '/v1/sessions/%E0%A4%A/end', body: '{}', status: 400, error: 'INVALID_REQUEST', message: /malformed percent-encoding/ },
    { name: 'a body over 1 MiB', method: 'POST', path: '/v1/authorize', body: `{"commands":"${'x'.repeat(1_048_576)}"}`, status: 413, error: 'INVALID_REQUEST', message: /request body over 1048576 bytes/ },
  ];
  for (const { name, method, path, body, status, error, message } of cases) {
    it(`refuses ${name} the same way over HTTP and in process`, async () => {
      const overHttp = await fetch(`${api.url}${path}`, { method, body, headers: { 'content-type': 'application/json' } });
      const inProcess = await invokeLocal({ method, url: path, headers: { 'content-type': 'application/json' }, body });
      assert.equal(overHttp.status, status);
      assert.equal(inProcess.status, status);
      const [httpBody, localBody] = [(await overHttp.json()) as { error: string; message: string }, JSON.parse(inProcess.body) as { error: string; message: string }];
      assert.deepEqual(localBody, httpBody);
      assert.equal(httpBody.error, error);
      assert.match(httpBody.message, message);
    });
  }
});
