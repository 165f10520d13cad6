import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { AuthorizeCommand } from '../../../core/contract.js';
import { kubernetesAction, planKubernetes, shellQuote } from '../../../functions/lib/kubernetes-plan.js';
import { PolicyEngine } from '../../../functions/lib/policy-engine.js';
import { loadPolicyFile, SCHEMA_FILE } from '../../../functions/lib/policy-files.js';
import type { SessionRecord } from '../../../functions/lib/session-store.js';
import { shellFacts } from '../../../functions/lib/shell-facts.js';
import { describeRequest, execCommand } from '../../../proxy-fleet/kubernetes/request-info.js';

const shipped = await loadPolicyFile(undefined);
const schema = await readFile(SCHEMA_FILE, 'utf8');

const session: SessionRecord = {
  id: 's1',
  identity: { sub: 'alice', groups: ['eng'], chain: 'c1', act: [] },
  connection: 'prod-cluster',
  startedAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2025-01-01T01:00:00.000Z',
  tokenId: 't1',
};

/** A k8s.request as the proxy sends it: the request line and the attributes it derives. */
function request(method: string, url: string): AuthorizeCommand {
  const kubernetes = { ...describeRequest(method, url), ...(url.includes('/exec?') ? { command: execCommand(url) } : {}) };
  return { sessionId: session.id, commandId: 1, kind: 'k8s.request', text: `${method} ${url}`, kubernetes };
}

/** `kubectl exec api-0 -- argv…`: kubectl sends each word as a `command` query value. */
function exec(argv: readonly string[], method = 'POST'): AuthorizeCommand {
  const query = argv.map((word) => `command=${encodeURIComponent(word)}`).join('&');
  return request(method, `/api/v1/namespaces/prod/pods/api-0/exec?${query}&stdin=true&stdout=true`);
}

function plan(command: AuthorizeCommand, policy: PolicyEngine = shipped) {
  const planned = planKubernetes(policy, session, command);
  assert.equal(planned.statements.length, 1);
  const [statement] = planned.statements;
  const outcome = planned.denial !== undefined ? 'deny' : planned.held ? 'approval' : 'allow';
  return { planned, outcome, data: statement!.data, policies: statement!.verdict.policies };
}

// The HTTP request and the Cedar action it is decided as.
const actions: [method: string, url: string, action: string][] = [
  ['GET', '/', 'k8s:discovery'],
  ['GET', '/api', 'k8s:discovery'],
  ['GET', '/api/v1', 'k8s:discovery'],
  ['GET', '/apis', 'k8s:discovery'],
  ['GET', '/apis/apps', 'k8s:discovery'],
  ['GET', '/apis/apps/v1', 'k8s:discovery'],
  ['GET', '/apis/apps/v1/', 'k8s:discovery'],
  ['GET', '/version', 'k8s:discovery'],
  ['GET', '/openapi/v3', 'k8s:discovery'],
  ['GET', '/openapi/v3/apis/apps/v1?hash=ABC123', 'k8s:discovery'],
  ['GET', '/healthz', 'k8s:discovery'],
  ['HEAD', '/readyz', 'k8s:discovery'],
  ['POST', '/logs/kubelet.log', 'k8s:nonresource'],
  ['GET', '/API/v1/pods', 'k8s:discovery'],
  ['GET', '/api/v1/namespaces/default/pods', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods?watch=true', 'k8s:watch'],
  ['GET', '/api/v1/namespaces/default/pods?watch=1&resourceVersion=10', 'k8s:watch'],
  ['GET', '/api/v1/namespaces/default/pods?watch=FALSE', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods?watch=0', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods?watch=yes', 'k8s:watch'],
  ['GET', '/api/v1/namespaces/default/pods?watch', 'k8s:watch'],
  ['HEAD', '/api/v1/namespaces/default/pods', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods/web-0', 'k8s:get'],
  ['GET', '/api/v1/namespaces/default/pods/web-0?watch=true', 'k8s:get'],
  ['GET', '/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dweb-0', 'k8s:watch'],
  ['GET', '/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning,metadata.name%3D%3Dweb-1', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name', 'k8s:watch'],
  ['GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name!%3Dweb-0', 'k8s:list'],
  ['GET', '/api/v1/namespaces/default/pods?limit=ten&fieldSelector=metadata.name%3Dweb-0', 'k8s:list'],
  ['POST', '/api/v1/namespaces/default/pods', 'k8s:create'],
  ['PUT', '/api/v1/namespaces/default/configmaps/settings', 'k8s:update'],
  ['PATCH', '/api/v1/namespaces/default/secrets/db-password', 'k8s:patch'],
  ['DELETE', '/api/v1/namespaces/default/secrets/db-password', 'k8s:delete'],
  ['DELETE', '/api/v1/namespaces/default/secrets', 'k8s:deletecollection'],
  ['GET', '/api/v1/pods', 'k8s:list'],
  ['GET', '/api/v1/pods/', 'k8s:list'],
  ['GET', '/api/v1/watch/pods', 'k8s:watch'],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods', 'k8s:watch'],
  ['GET', '/api/v1/watch/namespaces/kube-system/pods/coredns-1', 'k8s:watch'],
  ['GET', '/apis/apps/v1/watch/deployments?watch=false', 'k8s:watch'],
  ['GET', '/api/v1/nodes', 'k8s:list'],
  ['GET', '/api/v1/nodes/ip-10-0-0-1.ec2.internal', 'k8s:get'],
  ['DELETE', '/api/v1/persistentvolumes/pv-1', 'k8s:delete'],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job-controller', 'k8s:get'],
  ['GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com', 'k8s:get'],
  ['GET', '/api/v1/namespaces', 'k8s:list'],
  ['POST', '/api/v1/namespaces', 'k8s:create'],
  ['GET', '/api/v1/namespaces/team-a', 'k8s:get'],
  ['DELETE', '/api/v1/namespaces/team-a', 'k8s:delete'],
  ['PUT', '/api/v1/namespaces/team-a/status', 'k8s:update'],
  ['PUT', '/api/v1/namespaces/team-a/finalize', 'k8s:update'],
  ['GET', '/apis/apps/v1/deployments', 'k8s:list'],
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api', 'k8s:get'],
  ['POST', '/apis/batch/v1/namespaces/prod/jobs', 'k8s:create'],
  ['DELETE', '/apis/apps/v1/namespaces/prod/replicasets', 'k8s:deletecollection'],
  ['GET', '/apis/apps/v1/namespaces/prod/deployments/api/scale', 'k8s:get'],
  ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/api/scale', 'k8s:patch'],
  ['PUT', '/apis/apps/v1/namespaces/prod/deployments/api/status', 'k8s:update'],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/log?container=app&follow=true', 'k8s:get'],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/exec?command=ls&stdout=true', 'k8s:exec'],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/exec?command=sh&stdin=true&tty=true', 'k8s:exec'],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/attach?stdin=true', 'k8s:attach'],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/attach?stdout=1', 'k8s:attach'],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/portforward', 'k8s:portforward'],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/portforward?ports=8080', 'k8s:portforward'],
  ['POST', '/api/v1/namespaces/prod/pods/api-0/eviction', 'k8s:create'],
  ['GET', '/api/v1/namespaces/prod/pods/api-0/proxy', 'k8s:proxy'],
  ['GET', '/api/v1/namespaces/prod/services/https:web:443/proxy/metrics/', 'k8s:proxy'],
  ['POST', '/api/v1/namespaces/prod/pods/api-0:8080/proxy/a%20b/c?x=1', 'k8s:proxy'],
  ['GET', '/api/v1/nodes/node-1:10250/proxy/metrics', 'k8s:proxy'],
  ['GET', '/api/v1/proxy/namespaces/prod/services/web/healthz', 'k8s:proxy'],
  ['GET', '/api/v1/proxy/nodes/node-1/stats', 'k8s:proxy'],
];

describe('kubernetesAction', () => {
  for (const [method, url, action] of actions) {
    it(`${method} ${url} → ${action}`, () => assert.equal(kubernetesAction(describeRequest(method, url)), action));
  }

  it('covers every action', () => {
    const covered = new Set(actions.map(([, , action]) => action));
    for (const verb of ['discovery', 'nonresource', 'get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', 'exec', 'attach', 'portforward']) {
      assert.ok(covered.has(`k8s:${verb}`), verb);
    }
  });

  it('derives streaming and proxy actions from the subresource and verb, whatever the HTTP method', () => {
    const base = describeRequest('GET', '/api/v1/namespaces/a/pods/b');
    assert.equal(kubernetesAction({ ...base, verb: 'create', subresource: 'exec' }), 'k8s:exec');
    assert.equal(kubernetesAction({ ...base, verb: 'delete', subresource: 'attach' }), 'k8s:attach');
    assert.equal(kubernetesAction({ ...base, verb: 'proxy' }), 'k8s:proxy');
    assert.equal(kubernetesAction({ ...base, verb: 'patch', subresource: 'proxy' }), 'k8s:proxy');
    assert.equal(kubernetesAction({ ...base, resourceRequest: false, verb: 'get' }), 'k8s:discovery');
    assert.equal(kubernetesAction({ ...base, resourceRequest: false, verb: 'options' }), 'k8s:nonresource');
  });

  it('knows no action for a verb it does not know, and the plan refuses it', () => {
    const base = describeRequest('GET', '/api/v1/namespaces/a/pods/b');
    for (const verb of ['impersonate', 'escalate', 'bind', 'approve', 'GET', 'post', '']) {
      assert.equal(kubernetesAction({ ...base, verb }), undefined, verb);
      const { planned, policies } = plan({ ...request('GET', '/api/v1/namespaces/a/pods/b'), kubernetes: { ...base, verb } });
      assert.match(planned.denial ?? '', /not a Kubernetes verb/);
      assert.deepEqual(policies, ['unknown-kubernetes-verb']);
    }
  });
});

describe('shellQuote', () => {
  it('leaves plain words bare and quotes the rest', () => {
    assert.equal(shellQuote(['ls', '-la', '/var/log']), 'ls -la /var/log');
    assert.equal(shellQuote(['curl', 'user@host:8080/a,b=c+d%20']), 'curl user@host:8080/a,b=c+d%20');
    assert.equal(shellQuote(['ls', '; rm -rf /']), "ls '; rm -rf /'");
    assert.equal(shellQuote(['echo', "it's", '']), `echo 'it'\\''s' ''`);
    assert.equal(shellQuote(['A=1', 'ls']), "'A=1' ls");
    assert.equal(shellQuote(['time', 'rm', 'x']), "'time' rm x");
    assert.equal(shellQuote([]), '');
  });

  // The container runtime runs argv[0] with the rest as its arguments, so the shell parser must see exactly that.
  const argvs: string[][] = [
    ['ls', '; rm -rf /'],
    ['ls', '&& rm -rf /'],
    ['ls', '| sh'],
    ['echo', '$(id)'],
    ['echo', '`id`'],
    ['echo', '${PATH}'],
    ['echo', "it's", '"quoted"', "''", "'\\''"],
    ['echo', 'a\nrm -rf /'],
    ['echo', '*', '?', '[a]', '~', '~root', '{a,b}', '#comment', '!!', '%1'],
    ['echo', '\\', '\\n', "$'\\x41'", '$"x"'],
    ['echo', '>', '/etc/passwd', '<', '/etc/shadow', '2>&1'],
    ['A=1', 'ls'],
    ['PATH=/tmp', 'ls'],
    ['=x'],
    ['ls', 'A=1'],
    ...['time', 'let', 'if', 'then', 'while', 'until', 'for', 'case', 'select', 'function', 'coproc', 'declare', 'export', 'local', 'readonly', 'typeset', 'nameref', 'in', 'do', 'done', 'fi', 'esac', 'elif', 'else'].map((word) => [word, 'x=1']),
    ['{', 'x'],
    ['[[', '-f', 'x', ']]'],
    ['((', 'x', '))'],
    ['!', 'ls'],
    ['', 'x'],
    ['/bin/ls', '-l'],
  ];
  for (const argv of argvs) {
    it(`parses ${JSON.stringify(argv)} back as the one command it is`, () => {
      const result = shellFacts(shellQuote(argv));
      assert.ok(result.ok, result.ok ? '' : result.error);
      const [first] = result.facts.commands;
      assert.deepEqual([first?.program, first?.args, first?.env], [argv[0], argv.slice(1), {}]);
      assert.equal(result.facts.pipelines, 0);
      assert.equal(result.facts.usesSubstitution, false);
      assert.deepEqual(result.facts.usesRedirectionToFile, []);
    });
  }
});

describe('planKubernetes with the shipped policy', () => {
  it('allows discovery and reading objects', () => {
    for (const [method, url, action] of [
      ['GET', '/version', 'k8s:discovery'],
      ['GET', '/api/v1/namespaces/default/pods/web-0', 'k8s:get'],
      ['GET', '/api/v1/namespaces/default/pods?limit=500', 'k8s:list'],
      ['GET', '/api/v1/namespaces/default/pods?watch=true', 'k8s:watch'],
      ['GET', '/api/v1/namespaces/default/pods/web-0/log?follow=true', 'k8s:get'],
    ] as const) {
      const { outcome, data, policies } = plan(request(method, url));
      assert.equal(outcome, 'allow', url);
      assert.deepEqual(policies, ['read-clusters']);
      assert.equal(data.action, action);
    }
  });

  it('records the request attributes', () => {
    const { data } = plan(request('GET', '/apis/apps/v1/namespaces/prod/deployments/api/scale'));
    assert.deepEqual(data, {
      commandId: 1,
      kind: 'k8s.request',
      policyVersion: shipped.version,
      statement: 0,
      statements: 1,
      action: 'k8s:get',
      verb: 'get',
      apiGroup: 'apps',
      resource: 'deployments',
      subresource: 'scale',
      namespace: 'prod',
      name: 'api',
      path: '/apis/apps/v1/namespaces/prod/deployments/api/scale',
      text: 'GET /apis/apps/v1/namespaces/prod/deployments/api/scale',
      decision: 'allow',
      policies: ['read-clusters'],
    });
  });

  it('allows `kubectl exec -- ls /`, over SPDY (POST) and WebSocket (GET), with the shell facts recorded', () => {
    for (const method of ['POST', 'GET']) {
      const { outcome, data } = plan(exec(['ls', '/'], method));
      assert.equal(outcome, 'allow');
      assert.equal(data.action, 'k8s:exec');
      assert.equal(data.command, 'ls /');
      assert.deepEqual(data.programs, ['ls']);
      assert.equal(data.sudo, false);
      assert.equal(data.nestedShell, false);
    }
  });

  it('holds a nested shell or sudo in an exec for approval', () => {
    const nested = plan(exec(['sh', '-c', 'id']));
    assert.equal(nested.outcome, 'approval');
    assert.deepEqual(nested.policies, ['no-root-shell']);
    assert.equal(nested.data.nestedShell, true);
    assert.equal(nested.data.command, 'sh -c id');
    assert.match(nested.planned.held?.reason ?? '', /second pair of eyes/);
    assert.equal(nested.planned.maskedText, nested.data.text);

    const sudo = plan(exec(['sudo', 'ls']));
    assert.equal(sudo.outcome, 'approval');
    assert.equal(sudo.data.sudo, true);
    assert.deepEqual(sudo.data.programs, ['ls', 'sudo']);
  });

  it('reads metacharacters inside one argv word as an argument, and a script given to sh -c as commands', () => {
    const word = plan(exec(['ls', '; rm -rf /']));
    assert.equal(word.outcome, 'allow');
    assert.deepEqual(word.data.programs, ['ls']);
    assert.equal(word.data.command, "ls '; rm -rf /'");

    const script = plan(exec(['sh', '-c', 'ls; rm -rf /']));
    assert.equal(script.outcome, 'approval');
    assert.ok((script.data.programs as string[]).includes('rm'));
    assert.equal(script.data.nestedShell, true);

    // An assignment-looking argv[0] is the program the runtime runs, not a prefix for the next word.
    assert.deepEqual(plan(exec(['A=1', 'rm', '-rf', '/'])).data.programs, ['A=1']);
  });

  it('holds changes to cluster objects for approval', () => {
    for (const [method, url] of [
      ['POST', '/api/v1/namespaces/default/pods'],
      ['PUT', '/api/v1/namespaces/default/configmaps/settings'],
      ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/api/scale'],
      ['DELETE', '/api/v1/namespaces/default/pods/web-0'],
      ['DELETE', '/api/v1/namespaces/default/secrets'],
      ['POST', '/api/v1/namespaces/prod/pods/api-0/eviction'],
    ] as const) {
      const { outcome, policies, planned } = plan(request(method, url));
      assert.equal(outcome, 'approval', `${method} ${url}`);
      assert.deepEqual(policies, ['cluster-changes-need-approval']);
      assert.equal(planned.maskedText, `${method} ${url}`);
    }
  });

  it('denies attach, port forwarding, proxying and other non-resource requests: nothing permits them', () => {
    for (const [method, url, action] of [
      ['POST', '/api/v1/namespaces/prod/pods/api-0/attach?stdin=true', 'k8s:attach'],
      ['GET', '/api/v1/namespaces/prod/pods/api-0/portforward?ports=8080', 'k8s:portforward'],
      ['GET', '/api/v1/namespaces/prod/services/https:web:443/proxy/metrics', 'k8s:proxy'],
      ['GET', '/api/v1/proxy/nodes/node-1/stats', 'k8s:proxy'],
      ['POST', '/logs/kubelet.log', 'k8s:nonresource'],
      ['DELETE', '/version', 'k8s:nonresource'],
    ] as const) {
      const { outcome, planned, policies, data } = plan(request(method, url));
      assert.equal(outcome, 'deny', url);
      assert.deepEqual(policies, []);
      assert.equal(planned.denial, `no policy permits ${action} on cluster prod-cluster`);
      assert.equal(data.action, action);
    }
  });

  it('masks personal data in the exec command, the path and the query, percent-encoded or not', () => {
    const grep = plan(exec(['grep', 'alice@example.com', '/var/log/app.log']));
    assert.equal(grep.data.command, 'grep [masked:email] /var/log/app.log');
    assert.doesNotMatch(JSON.stringify(grep.data), /alice/);

    for (const url of [
      '/api/v1/namespaces/default/pods?labelSelector=owner%3Dalice%40example.com&limit=5',
      '/api/v1/namespaces/default/pods?fieldSelector=spec.owner=alice@example.com',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/alice@example.com',
      '/api/v1/namespaces/prod/services/web/proxy/users/alice%40example.com',
      '/api/v1/namespaces/prod/pods/api-0/exec?command=mail&command=alice%40example.com',
    ]) {
      const { data } = plan(request('GET', url));
      assert.doesNotMatch(JSON.stringify(data), /alice/, url);
      assert.match(String(data.text), /\[masked:email\]/, url);
    }
    const { data } = plan(request('GET', '/api/v1/namespaces/default/pods?labelSelector=owner%3Dalice%40example.com&limit=5'));
    assert.equal(data.text, 'GET /api/v1/namespaces/default/pods?labelSelector=owner%3D[masked:email]&limit=5');

    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const env = plan(exec(['env', `aws_secret_access_key=${secret}`, 'aws', 's3', 'ls']));
    assert.doesNotMatch(JSON.stringify(env.data), /wJalrXUtnFEMI|EXAMPLEKEY/);
    const labelled = plan(request('GET', `/api/v1/namespaces/prod/services/web/proxy/s3?aws_secret_access_key=${secret}`));
    assert.doesNotMatch(JSON.stringify(labelled.data), /wJalrXUtnFEMI|EXAMPLEKEY/);

    const held = plan(request('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/alice@example.com'));
    assert.equal(held.outcome, 'approval');
    assert.doesNotMatch(held.planned.maskedText ?? '', /alice/);
    assert.equal(held.data.name, '[masked:email]');
  });

  it('refuses a request without its Kubernetes attributes, or an exec whose command cannot be parsed', () => {
    const { kubernetes: _kubernetes, ...bare } = request('GET', '/api/v1/namespaces/default/pods');
    const missing = plan(bare);
    assert.equal(missing.outcome, 'deny');
    assert.deepEqual(missing.policies, ['wrong-protocol']);
    assert.equal(missing.data.text, '[withheld: not parsed]');

    for (const argv of [['echo', 'a\u0000b'], ['echo', 'x'.repeat(70_000), 'y'.repeat(70_000)]]) {
      const refused = plan({ ...exec(['true']), kubernetes: { ...exec(['true']).kubernetes!, command: argv } });
      assert.equal(refused.outcome, 'deny');
      assert.deepEqual(refused.policies, ['unparsable-shell']);
    }
  });
});

describe('planKubernetes with a custom policy', () => {
  const policy = PolicyEngine.load(
    `@id("read") permit (principal, action in [Warden::Action::"k8s:get", Warden::Action::"k8s:list", Warden::Action::"k8s:exec"], resource is Warden::Cluster);
@id("no-secrets") forbid (principal, action, resource) when { context has resource && context.resource == "secrets" };
@id("not-kube-system") forbid (principal, action, resource) when { context has namespace && context.namespace == "kube-system" };
@id("no-rm") forbid (principal, action == Warden::Action::"k8s:exec", resource) when { context.programs.contains("rm") || context.command like "*--force*" };
@id("one-binding") forbid (principal, action, resource) when { context has name && context.name == "alice@example.com" };`,
    schema,
  );

  it('decides on the request attributes and the exec command, unmasked', () => {
    const decide = (command: AuthorizeCommand) => plan(command, policy);
    assert.equal(decide(request('GET', '/api/v1/namespaces/default/pods')).outcome, 'allow');
    assert.deepEqual(decide(request('GET', '/api/v1/namespaces/default/secrets/db')).policies, ['no-secrets']);
    assert.deepEqual(decide(request('GET', '/api/v1/namespaces/kube-system/pods')).policies, ['not-kube-system']);
    assert.deepEqual(decide(exec(['sh', '-c', 'rm -rf /data'])).policies, ['no-rm']);
    assert.deepEqual(decide(exec(['kill', '--force', '1'])).policies, ['no-rm']);
    assert.equal(decide(exec(['ls', 'rm'])).outcome, 'allow');
    const binding = decide(request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/alice@example.com'));
    assert.deepEqual(binding.policies, ['one-binding']);
    assert.equal(binding.data.name, '[masked:email]');
  });
});
