import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertThrowsCode } from '../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import {
  KubernetesRequestError,
  MAX_PATH_BYTES,
  describeRequest,
  execCommand,
  type KubernetesRequest,
  type KubernetesRequestErrorCode,
} from '../../proxy-fleet/kubernetes/request-info.js';

type Expected = Partial<Omit<KubernetesRequest, 'path'>>;

const none = { resourceRequest: false, apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '' };
const core = { resourceRequest: true, apiGroup: '', apiVersion: 'v1', subresource: '', namespace: '', name: '' };
const apps = { ...core, apiGroup: 'apps' };

const cases: [method: string, url: string, expected: Expected][] = [
  // Discovery and other non-resource URLs.
  ['GET', '/', { ...none, verb: 'get' }],
  ['GET', '/api', { ...none, verb: 'get' }],
  ['GET', '/api/v1', { ...none, verb: 'get' }],
  ['GET', '/apis', { ...none, verb: 'get' }],
  ['GET', '/apis/apps', { ...none, verb: 'get' }],
  ['GET', '/apis/apps/v1', { ...none, verb: 'get' }],
  ['GET', '/apis/apps/v1/', { ...none, verb: 'get' }],
  ['GET', '/version', { ...none, verb: 'get' }],
  ['GET', '/openapi/v3', { ...none, verb: 'get' }],
  ['GET', '/openapi/v3/apis/apps/v1?hash=ABC123', { ...none, verb: 'get' }],
  ['GET', '/healthz', { ...none, verb: 'get' }],
  ['HEAD', '/readyz', { ...none, verb: 'head' }],
  ['POST', '/logs/kubelet.log', { ...none, verb: 'post' }],
  ['GET', '/API/v1/pods', { ...none, verb: 'get' }],

  // Core group, namespaced collections and objects.
  ['GET', '/api/v1/namespaces/default/pods', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=true', { ...core, verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=1&resourceVersion=10', { ...core, verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=FALSE', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=0', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch=yes', { ...core, verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?watch', { ...core, verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['HEAD', '/api/v1/namespaces/default/pods', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods/web-0', { ...core, verb: 'get', resource: 'pods', namespace: 'default', name: 'web-0' }],
  // A name in the path keeps the verb get, watch=true or not.
  ['GET', '/api/v1/namespaces/default/pods/web-0?watch=true', { ...core, verb: 'get', resource: 'pods', namespace: 'default', name: 'web-0' }],
  [
    'GET',
    '/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dweb-0',
    { ...core, verb: 'watch', resource: 'pods', namespace: 'default', name: 'web-0' },
  ],
  [
    'GET',
    '/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning,metadata.name%3D%3Dweb-1',
    { ...core, verb: 'list', resource: 'pods', namespace: 'default', name: 'web-1' },
  ],
  // A selector the API server cannot parse narrows nothing.
  ['GET', '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name', { ...core, verb: 'watch', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name!%3Dweb-0', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['GET', '/api/v1/namespaces/default/pods?limit=ten&fieldSelector=metadata.name%3Dweb-0', { ...core, verb: 'list', resource: 'pods', namespace: 'default' }],
  ['POST', '/api/v1/namespaces/default/pods', { ...core, verb: 'create', resource: 'pods', namespace: 'default' }],
  ['PUT', '/api/v1/namespaces/default/configmaps/settings', { ...core, verb: 'update', resource: 'configmaps', namespace: 'default', name: 'settings' }],
  ['PATCH', '/api/v1/namespaces/default/secrets/db-password', { ...core, verb: 'patch', resource: 'secrets', namespace: 'default', name: 'db-password' }],
  ['DELETE', '/api/v1/namespaces/default/secrets/db-password', { ...core, verb: 'delete', resource: 'secrets', namespace: 'default', name: 'db-password' }],
  ['DELETE', '/api/v1/namespaces/default/secrets', { ...core, verb: 'deletecollection', resource: 'secrets', namespace: 'default' }],
  ['GET', '/api/v1/pods', { ...core, verb: 'list', resource: 'pods' }],
  ['GET', '/api/v1/pods/', { ...core, verb: 'list', resource: 'pods' }],

  // Legacy watch prefix.
  ['GET', '/api/v1/watch/pods', { ...core, verb: 'watch', resource: 'pods' }],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods', { ...core, verb: 'watch', resource: 'pods', namespace: 'kube-system' }],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods/coredns-1', { ...core, verb: 'watch', resource: 'pods', namespace: 'kube-system', name: 'coredns-1' }],
  ['GET', '/apis/apps/v1/watch/deployments?watch=false', { ...apps, verb: 'watch', resource: 'deployments' }],

  // Cluster-scoped.
  ['GET', '/api/v1/nodes', { ...core, verb: 'list', resource: 'nodes' }],
  ['GET', '/api/v1/nodes/ip-10-0-0-1.ec2.internal', { ...core, verb: 'get', resource: 'nodes', name: 'ip-10-0-0-1.ec2.internal' }],
  ['DELETE', '/api/v1/persistentvolumes/pv-1', { ...core, verb: 'delete', resource: 'persistentvolumes', name: 'pv-1' }],
  [
    'GET',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job-controller',
    { ...core, apiGroup: 'rbac.authorization.k8s.io', verb: 'get', resource: 'clusterroles', name: 'system:controller:job-controller' },
  ],
  [
    'GET',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com',
    { ...core, apiGroup: 'apiextensions.k8s.io', verb: 'get', resource: 'customresourcedefinitions', name: 'widgets.example.com' },
  ],

  // The namespaces resource itself.
  ['GET', '/api/v1/namespaces', { ...core, verb: 'list', resource: 'namespaces' }],
  ['POST', '/api/v1/namespaces', { ...core, verb: 'create', resource: 'namespaces' }],
  ['GET', '/api/v1/namespaces/team-a', { ...core, verb: 'get', resource: 'namespaces', namespace: 'team-a', name: 'team-a' }],
  ['DELETE', '/api/v1/namespaces/team-a', { ...core, verb: 'delete', resource: 'namespaces', namespace: 'team-a', name: 'team-a' }],
  ['PUT', '/api/v1/namespaces/team-a/status', { ...core, verb: 'update', resource: 'namespaces', subresource: 'status', namespace: 'team-a', name: 'team-a' }],
  ['PUT', '/api/v1/namespaces/team-a/finalize', { ...core, verb: 'update', resource: 'namespaces', subresource: 'finalize', namespace: 'team-a', name: 'team-a' }],

  // Named groups.
  ['GET', '/apis/apps/v1/deployments', { ...apps, verb: 'list', resource: 'deployments' }],
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api', { ...apps, verb: 'get', resource: 'deployments', namespace: 'prod', name: 'api' }],
  ['POST', '/apis/batch/v1/namespaces/prod/jobs', { ...core, apiGroup: 'batch', verb: 'create', resource: 'jobs', namespace: 'prod' }],
  ['DELETE', '/apis/apps/v1/namespaces/prod/replicasets', { ...apps, verb: 'deletecollection', resource: 'replicasets', namespace: 'prod' }],

  // Subresources.
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api/scale', { ...apps, verb: 'get', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'api' }],
  ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/api/scale', { ...apps, verb: 'patch', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'api' }],
  ['PUT', '/apis/apps/v1/namespaces/prod/deployments/api/status', { ...apps, verb: 'update', resource: 'deployments', subresource: 'status', namespace: 'prod', name: 'api' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/log?container=app&follow=true', { ...core, verb: 'get', resource: 'pods', subresource: 'log', namespace: 'prod', name: 'api-0' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/exec?command=ls&stdout=true', { ...core, verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'api-0' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/exec?command=sh&stdin=true&tty=true', { ...core, verb: 'get', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'api-0' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/attach?stdin=true', { ...core, verb: 'create', resource: 'pods', subresource: 'attach', namespace: 'prod', name: 'api-0' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/attach?stdout=1', { ...core, verb: 'get', resource: 'pods', subresource: 'attach', namespace: 'prod', name: 'api-0' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/portforward', { ...core, verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'prod', name: 'api-0' }],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/portforward?ports=8080', { ...core, verb: 'get', resource: 'pods', subresource: 'portforward', namespace: 'prod', name: 'api-0' }],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/eviction', { ...core, verb: 'create', resource: 'pods', subresource: 'eviction', namespace: 'prod', name: 'api-0' }],

  // Proxy: the subresource, and the legacy path verb (which takes no subresource).
  ['GET', '/api/v1/namespaces/prod/pods/api-0/proxy', { ...core, verb: 'get', resource: 'pods', subresource: 'proxy', namespace: 'prod', name: 'api-0' }],
  [
    'GET',
    '/api/v1/namespaces/prod/services/https:web:443/proxy/metrics/',
    { ...core, verb: 'get', resource: 'services', subresource: 'proxy', namespace: 'prod', name: 'https:web:443' },
  ],
  [
    'POST',
    '/api/v1/namespaces/prod/pods/api-0:8080/proxy/a%20b/c?x=1',
    { ...core, verb: 'create', resource: 'pods', subresource: 'proxy', namespace: 'prod', name: 'api-0:8080' },
  ],
  ['GET', '/api/v1/nodes/node-1:10250/proxy/metrics', { ...core, verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'node-1:10250' }],
  ['GET', '/api/v1/proxy/namespaces/prod/services/web/healthz', { ...core, verb: 'proxy', resource: 'services', namespace: 'prod', name: 'web' }],
  ['GET', '/api/v1/proxy/nodes/node-1/stats', { ...core, verb: 'proxy', resource: 'nodes', name: 'node-1' }],
];

describe('describeRequest', () => {
  it('has a broad table', () => assert.ok(cases.length >= 40));

  for (const [method, url, expected] of cases) {
    it(`${method} ${url}`, () => {
      const { path, ...attributes } = describeRequest(method, url);
      assert.deepEqual(attributes, expected);
      assert.equal(path, url.split('?')[0]);
    });
  }

  it('covers every verb', () => {
    const verbs = new Set(cases.filter(([, , e]) => e.resourceRequest).map(([, , e]) => e.verb));
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy']) assert.ok(verbs.has(verb), verb);
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
