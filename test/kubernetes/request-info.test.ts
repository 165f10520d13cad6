import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertThrowsCode } from '../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import {
  KubernetesRequestError,
  MAX_PATH_BYTES,
  describeRequest,
  execCommand,
  kubernetesAction,
  type KubernetesRequest,
  type KubernetesRequestErrorCode,
} from '../../proxy-fleet/kubernetes/request-info.js';

type Expected = Partial<Omit<KubernetesRequest, 'path'>> & { action: string };

const none = { resourceRequest: false, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
const core = { resourceRequest: true, apiGroup: '', apiVersion: 'v1', subresource: '', namespace: '', name: '' };
const apps = { ...core, apiGroup: 'apps' };

const cases: [method: string, url: string, expected: Expected][] = [
  // Discovery and other non-resource URLs.
  ['GET', '/', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/api', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/api/v1', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/apis', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/apis/apps', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/apis/apps/v1', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/apis/apps/v1/', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/version', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/openapi/v3', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/openapi/v3/apis/apps/v1?hash=ABC123', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['GET', '/healthz', { ...none, verb: 'get', action: 'k8s:discovery' }],
  ['HEAD', '/readyz', { ...none, verb: 'head', action: 'k8s:discovery' }],
  ['POST', '/logs/kubelet.log', { ...none, verb: 'post', action: 'k8s:post' }],
  ['GET', '/API/v1/pods', { ...none, verb: 'get', action: 'k8s:discovery' }],

  // Core group, namespaced collections and objects.
  ['GET', '/api/v1/namespaces/default/pods', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=true', { ...core, verb: 'watch', resource: 'pods', namespace: 'default', action: 'k8s:watch' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=1&resourceVersion=10', { ...core, verb: 'watch', resource: 'pods', namespace: 'default', action: 'k8s:watch' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=FALSE', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=0', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=yes', { ...core, verb: 'watch', resource: 'pods', namespace: 'default', action: 'k8s:watch' }],
  ['GET', '/api/v1/namespaces/default/pods?watch', { ...core, verb: 'watch', resource: 'pods', namespace: 'default', action: 'k8s:watch' }],
  ['HEAD', '/api/v1/namespaces/default/pods', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['GET', '/api/v1/namespaces/default/pods/web-0', { ...core, verb: 'get', resource: 'pods', namespace: 'default', name: 'web-0', action: 'k8s:get' }],
  // A name in the path keeps the verb get, watch=true or not.
  ['GET', '/api/v1/namespaces/default/pods/web-0?watch=true', { ...core, verb: 'get', resource: 'pods', namespace: 'default', name: 'web-0', action: 'k8s:get' }],
  [
    'GET',
    '/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dweb-0',
    { ...core, verb: 'watch', resource: 'pods', namespace: 'default', name: 'web-0', action: 'k8s:watch' },
  ],
  [
    'GET',
    '/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning,metadata.name%3D%3Dweb-1',
    { ...core, verb: 'list', resource: 'pods', namespace: 'default', name: 'web-1', action: 'k8s:list' },
  ],
  // A selector the API server cannot parse narrows nothing.
  ['GET', '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name', { ...core, verb: 'watch', resource: 'pods', namespace: 'default', action: 'k8s:watch' }],
  ['GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name!%3Dweb-0', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['GET', '/api/v1/namespaces/default/pods?limit=ten&fieldSelector=metadata.name%3Dweb-0', { ...core, verb: 'list', resource: 'pods', namespace: 'default', action: 'k8s:list' }],
  ['POST', '/api/v1/namespaces/default/pods', { ...core, verb: 'create', resource: 'pods', namespace: 'default', action: 'k8s:create' }],
  ['PUT', '/api/v1/namespaces/default/configmaps/settings', { ...core, verb: 'update', resource: 'configmaps', namespace: 'default', name: 'settings', action: 'k8s:update' }],
  ['PATCH', '/api/v1/namespaces/default/secrets/db-password', { ...core, verb: 'patch', resource: 'secrets', namespace: 'default', name: 'db-password', action: 'k8s:patch' }],
  ['DELETE', '/api/v1/namespaces/default/secrets/db-password', { ...core, verb: 'delete', resource: 'secrets', namespace: 'default', name: 'db-password', action: 'k8s:delete' }],
  ['DELETE', '/api/v1/namespaces/default/secrets', { ...core, verb: 'deletecollection', resource: 'secrets', namespace: 'default', action: 'k8s:deletecollection' }],
  ['GET', '/api/v1/pods', { ...core, verb: 'list', resource: 'pods', action: 'k8s:list' }],
  ['GET', '/api/v1/pods/', { ...core, verb: 'list', resource: 'pods', action: 'k8s:list' }],

  // Legacy watch prefix.
  ['GET', '/api/v1/watch/pods', { ...core, verb: 'watch', resource: 'pods', action: 'k8s:watch' }],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods', { ...core, verb: 'watch', resource: 'pods', namespace: 'kube-system', action: 'k8s:watch' }],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods/coredns-1', { ...core, verb: 'watch', resource: 'pods', namespace: 'kube-system', name: 'coredns-1', action: 'k8s:watch' }],
  ['GET', '/apis/apps/v1/watch/deployments?watch=false', { ...apps, verb: 'watch', resource: 'deployments', action: 'k8s:watch' }],

  // Cluster-scoped.
  ['GET', '/api/v1/nodes', { ...core, verb: 'list', resource: 'nodes', action: 'k8s:list' }],
  ['GET', '/api/v1/nodes/ip-10-0-0-1.ec2.internal', { ...core, verb: 'get', resource: 'nodes', name: 'ip-10-0-0-1.ec2.internal', action: 'k8s:get' }],
  ['DELETE', '/api/v1/persistentvolumes/pv-1', { ...core, verb: 'delete', resource: 'persistentvolumes', name: 'pv-1', action: 'k8s:delete' }],
  [
    'GET',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job-controller',
    { ...core, apiGroup: 'rbac.authorization.k8s.io', verb: 'get', resource: 'clusterroles', name: 'system:controller:job-controller', action: 'k8s:get' },
  ],
  [
    'GET',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com',
    { ...core, apiGroup: 'apiextensions.k8s.io', verb: 'get', resource: 'customresourcedefinitions', name: 'widgets.example.com', action: 'k8s:get' },
  ],

  // The namespaces resource itself.
  ['GET', '/api/v1/namespaces', { ...core, verb: 'list', resource: 'namespaces', action: 'k8s:list' }],
  ['POST', '/api/v1/namespaces', { ...core, verb: 'create', resource: 'namespaces', action: 'k8s:create' }],
  ['GET', '/api/v1/namespaces/team-a', { ...core, verb: 'get', resource: 'namespaces', namespace: 'team-a', name: 'team-a', action: 'k8s:get' }],
  ['DELETE', '/api/v1/namespaces/team-a', { ...core, verb: 'delete', resource: 'namespaces', namespace: 'team-a', name: 'team-a', action: 'k8s:delete' }],
  ['PUT', '/api/v1/namespaces/team-a/status', { ...core, verb: 'update', resource: 'namespaces', subresource: 'status', namespace: 'team-a', name: 'team-a', action: 'k8s:update' }],
  ['PUT', '/api/v1/namespaces/team-a/finalize', { ...core, verb: 'update', resource: 'namespaces', subresource: 'finalize', namespace: 'team-a', name: 'team-a', action: 'k8s:update' }],

  // Named groups.
  ['GET', '/apis/apps/v1/deployments', { ...apps, verb: 'list', resource: 'deployments', action: 'k8s:list' }],
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api', { ...apps, verb: 'get', resource: 'deployments', namespace: 'prod', name: 'api', action: 'k8s:get' }],
  ['POST', '/apis/batch/v1/namespaces/prod/jobs', { ...core, apiGroup: 'batch', verb: 'create', resource: 'jobs', namespace: 'prod', action: 'k8s:create' }],
  ['DELETE', '/apis/apps/v1/namespaces/prod/replicasets', { ...apps, verb: 'deletecollection', resource: 'replicasets', namespace: 'prod', action: 'k8s:deletecollection' }],

  // Subresources.
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api/scale', { ...apps, verb: 'get', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'api', action: 'k8s:get' }],
  ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/api/scale', { ...apps, verb: 'patch', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'api', action: 'k8s:patch' }],
  ['PUT', '/apis/apps/v1/namespaces/prod/deployments/api/status', { ...apps, verb: 'update', resource: 'deployments', subresource: 'status', namespace: 'prod', name: 'api', action: 'k8s:update' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/log?container=app&follow=true', { ...core, verb: 'get', resource: 'pods', subresource: 'log', namespace: 'prod', name: 'api-0', action: 'k8s:get' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/exec?command=ls&stdout=true', { ...core, verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'api-0', action: 'k8s:exec' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/exec?command=sh&stdin=true&tty=true', { ...core, verb: 'get', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'api-0', action: 'k8s:exec' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/attach?stdin=true', { ...core, verb: 'create', resource: 'pods', subresource: 'attach', namespace: 'prod', name: 'api-0', action: 'k8s:attach' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/attach?stdout=1', { ...core, verb: 'get', resource: 'pods', subresource: 'attach', namespace: 'prod', name: 'api-0', action: 'k8s:attach' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/portforward', { ...core, verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'prod', name: 'api-0', action: 'k8s:portforward' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/portforward?ports=8080', { ...core, verb: 'get', resource: 'pods', subresource: 'portforward', namespace: 'prod', name: 'api-0', action: 'k8s:portforward' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/eviction', { ...core, verb: 'create', resource: 'pods', subresource: 'eviction', namespace: 'prod', name: 'api-0', action: 'k8s:create' }],

  // Proxy: the subresource, and the legacy path verb (which takes no subresource).
  ['GET', '/api/v1/namespaces/prod/pods/api-0/proxy', { ...core, verb: 'get', resource: 'pods', subresource: 'proxy', namespace: 'prod', name: 'api-0', action: 'k8s:proxy' }],
  [
    'GET',
    '/api/v1/namespaces/prod/services/https:web:443/proxy/metrics/',
    { ...core, verb: 'get', resource: 'services', subresource: 'proxy', namespace: 'prod', name: 'https:web:443', action: 'k8s:proxy' },
  ],
  [
    'POST',
    '/api/v1/namespaces/prod/pods/api-0:8080/proxy/a%20b/c?x=1',
    { ...core, verb: 'create', resource: 'pods', subresource: 'proxy', namespace: 'prod', name: 'api-0:8080', action: 'k8s:proxy' },
  ],
  ['GET', '/api/v1/nodes/node-1:10250/proxy/metrics', { ...core, verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'node-1:10250', action: 'k8s:proxy' }],
  ['GET', '/api/v1/proxy/namespaces/prod/services/web/healthz', { ...core, verb: 'proxy', resource: 'services', namespace: 'prod', name: 'web', action: 'k8s:proxy' }],
  ['GET', '/api/v1/proxy/nodes/node-1/stats', { ...core, verb: 'proxy', resource: 'nodes', name: 'node-1', action: 'k8s:proxy' }],
];

describe('describeRequest', () => {
  it('has a broad table', () => assert.ok(cases.length >= 40));

  for (const [method, url, { action, ...expected }] of cases) {
    it(`${method} ${url}`, () => {
      const request = describeRequest(method, url);
      const { path, ...attributes } = request;
      assert.deepEqual(attributes, expected);
      assert.equal(path, url.split('?')[0]);
      assert.equal(kubernetesAction(request), action);
    });
  }

  it('covers every verb and action', () => {
    const verbs = new Set(cases.filter(([, , e]) => e.resourceRequest).map(([, , e]) => e.verb));
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy']) assert.ok(verbs.has(verb), verb);
    const actions = new Set(cases.map(([, , e]) => e.action));
    for (const action of ['k8s:exec', 'k8s:attach', 'k8s:portforward', 'k8s:proxy', 'k8s:discovery']) assert.ok(actions.has(action), action);
  });

  it('derives actions from the request, whatever its HTTP method', () => {
    const base = describeRequest('GET', '/api/v1/namespaces/a/pods/b');
    assert.equal(kubernetesAction({ ...base, verb: 'create', subresource: 'exec' }), 'k8s:exec');
    assert.equal(kubernetesAction({ ...base, verb: 'proxy' }), 'k8s:proxy');
    assert.equal(kubernetesAction({ ...base, resourceRequest: false, verb: 'get' }), 'k8s:discovery');
  });
});

function assertRejected(url: string, code: KubernetesRequestErrorCode, method = 'GET'): void {
  assertThrowsCode(() => describeRequest(method, url), KubernetesRequestError, code);
}

describe('describeRequest refuses paths a proxy and the API server could read differently', () => {
  const rejected: [url: string, code: KubernetesRequestErrorCode][] = [
    ['/api/v1/namespaces/default/pods/../secrets/x', 'DOT_SEGMENT'],
    ['/api/v1/namespaces/default/pods/./x', 'DOT_SEGMENT'],
    ['/api/v1/namespaces/default/pods/%2e%2e/secrets/x', 'DOT_SEGMENT'],
    ['/api/v1/namespaces/default/pods/x/proxy/../../secrets', 'DOT_SEGMENT'],
    ['/api/v1/namespaces/default/secrets/a%2Fb', 'ENCODED_SLASH'],
    ['/api/v1/namespaces/default/pods/x%2Fexec', 'ENCODED_SLASH'],
    ['/api/v1/namespaces/default/pods/x%2fexec', 'ENCODED_SLASH'],
    ['/api/v1/namespaces/default/pods/x/proxy/a%2Fb', 'ENCODED_SLASH'],
    ['/api/v1/namespaces/default/pods/x/%65xec', 'ENCODED_CHARACTER'],
    ['/api/v1/%6eamespaces/default/secrets', 'ENCODED_CHARACTER'],
    ['/api/v1/namespaces/default/pods/web%2D0', 'ENCODED_CHARACTER'],
    ['/healthz%3Fverbose', 'ENCODED_CHARACTER'],
    ['/api/v1/namespaces/default/pods/x%zz', 'INVALID_ENCODING'],
    ['/api/v1/namespaces/default/pods/x%2', 'INVALID_ENCODING'],
    ['/api/v1/namespaces//pods', 'EMPTY_SEGMENT'],
    ['//api/v1/secrets', 'EMPTY_SEGMENT'],
    ['/api/v1/namespaces/default/pods//x', 'EMPTY_SEGMENT'],
    ['/api/v1/pods//', 'EMPTY_SEGMENT'],
    ['/api/v1/namespaces/default/pods/Web-0', 'INVALID_NAME'],
    ['/api/v1/namespaces/default/pods/web_0', 'INVALID_NAME'],
    ['/api/v1/namespaces/default/pods/web-0:8080', 'INVALID_NAME'],
    ['/api/v1/namespaces/default/services/ftp:web:21/proxy', 'INVALID_NAME'],
    ['/api/v1/namespaces/default/pods/' + 'a'.repeat(254), 'INVALID_NAME'],
    ['/apis/rbac.authorization.k8s.io/v1/clusterroles/a\\b', 'INVALID_NAME'],
    ['/api/v1/namespaces/Default/pods', 'INVALID_NAMESPACE'],
    ['/api/v1/namespaces/team.a/pods', 'INVALID_NAMESPACE'],
    ['/api/v1/namespaces/TEAM', 'INVALID_NAMESPACE'],
    ['/apis/Apps/v1/deployments', 'INVALID_SEGMENT'],
    ['/api/V1/pods', 'INVALID_SEGMENT'],
    ['/api/v1/Pods', 'INVALID_SEGMENT'],
    ['/api/v1/namespaces/default/pods/x/Exec', 'INVALID_SEGMENT'],
    ['/api/v1/namespaces/default/pods/x\u0000', 'NUL_BYTE'],
    ['/api/v1/namespaces/default/pods/x%00', 'NUL_BYTE'],
    ['/api/v1/namespaces/default/pods/x/proxy/a%00', 'NUL_BYTE'],
    ['/api/v1/pods?watch=true%00', 'NUL_BYTE'],
    ['/' + 'a'.repeat(MAX_PATH_BYTES), 'PATH_TOO_LONG'],
    ['/api/v1/namespaces/default/pods/' + 'a'.repeat(MAX_PATH_BYTES), 'PATH_TOO_LONG'],
    ['/api/v1/namespaces/default/pods/x#/exec', 'INVALID_CHARACTER'],
    ['/api/v1/namespaces/default/pods/x y', 'INVALID_CHARACTER'],
    ['/api/v1/namespaces/default/pods/x\r\nHost: evil', 'INVALID_CHARACTER'],
    ['/api/v1/namespaces/default/pods/x/proxy/%0d%0a', 'INVALID_CHARACTER'],
    ['/api/v1/namespaces/default/pods/\u00e9', 'INVALID_CHARACTER'],
    ['/api/v1/pods?watch=false;watch=true', 'QUERY_SEMICOLON'],
    ['/api/v1/pods?watch=%zz', 'INVALID_ENCODING'],
    ['/api/v1/pods?labelSelector=%ff', 'INVALID_ENCODING'],
    ['/api/v1/watch', 'MISSING_RESOURCE'],
    ['/apis/apps/v1/proxy', 'MISSING_RESOURCE'],
    ['api/v1/pods', 'INVALID_URL'],
    ['http://evil.example/api/v1/pods', 'INVALID_URL'],
  ];

  for (const [url, code] of rejected) {
    it(`${code}: ${JSON.stringify(url.length > 80 ? url.slice(0, 77) + '...' : url)}`, () => assertRejected(url, code));
  }

  it('accepts the longest allowed path', () => {
    const url = '/healthz/' + 'a'.repeat(MAX_PATH_BYTES - '/healthz/'.length);
    assert.equal(describeRequest('GET', url).path.length, MAX_PATH_BYTES);
  });

  it('refuses methods the API server has no verb for', () => {
    assertRejected('/api/v1/pods', 'UNSUPPORTED_METHOD', 'OPTIONS');
    assertRejected('/api/v1/pods', 'UNSUPPORTED_METHOD', 'get');
    assertRejected('/api/v1/pods', 'INVALID_METHOD', 'GET /x');
    assertRejected('/api/v1/pods', 'INVALID_METHOD', '');
  });
});

describe('execCommand', () => {
  it('returns every command value in order', () => {
    const url = '/api/v1/namespaces/prod/pods/api-0/exec?command=sh&container=app&command=-c&stdin=true&command=echo+%22a%26b%22+%3E+%2Ftmp%2Fx';
    assert.deepEqual(execCommand(url), ['sh', '-c', 'echo "a&b" > /tmp/x']);
  });

  it('keeps empty values and ignores other parameters', () => {
    assert.deepEqual(execCommand('/api/v1/namespaces/p/pods/q/exec?command=printf&command=&command=%25s&commands=no&Command=no'), ['printf', '', '%s']);
    assert.deepEqual(execCommand('/api/v1/namespaces/p/pods/q/exec?stdout=1'), []);
    assert.deepEqual(execCommand('/api/v1/namespaces/p/pods/q/exec'), []);
  });

  it('decodes UTF-8', () => {
    assert.deepEqual(execCommand('/x?command=echo&command=%C3%A9t%C3%A9'), ['echo', 'été']);
  });

  it('refuses queries other servers would split differently', () => {
    assertThrowsCode(() => execCommand('/x?command=ls;command=rm'), KubernetesRequestError, 'QUERY_SEMICOLON');
    assertThrowsCode(() => execCommand('/x?command=ls%3'), KubernetesRequestError, 'INVALID_ENCODING');
    assertThrowsCode(() => execCommand('/x?command=%ff'), KubernetesRequestError, 'INVALID_ENCODING');
    assertThrowsCode(() => execCommand('/x?command=rm%00-rf'), KubernetesRequestError, 'NUL_BYTE');
    assertThrowsCode(() => execCommand('/x?command=ls#'), KubernetesRequestError, 'INVALID_CHARACTER');
  });
});
