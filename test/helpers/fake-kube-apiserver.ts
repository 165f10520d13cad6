/**
 * A stand-in kube-apiserver for tests: HTTPS on loopback with a self-signed certificate and one
 * bearer token, speaking the JSON wire formats closely enough for the real kubectl 1.32.
 *
 * Served:
 * - /version; legacy (unaggregated) discovery: /api, /api/v1, /apis, /apis/apps, /apis/apps/v1.
 *   kubectl asks for aggregated discovery (apidiscovery.k8s.io/v2) first; a plain application/json
 *   answer makes it fall back to fetching each group version. /openapi/* is 404.
 * - pods, secrets, namespaces (v1) and deployments (apps/v1): get, list (label and field selectors
 *   with =, == and !=), watch (?watch=true|1, from a resourceVersion or with synthetic ADDED
 *   events, timeoutSeconds honored), create (POST) and delete. Lists and watches also come as
 *   meta.k8s.io Tables when the Accept header asks for one, as `kubectl get` does.
 * - pods/log: text/plain, with tailLines, limitBytes, timestamps and follow (streams lines added
 *   with appendPodLog until the client goes away).
 * - pods/exec over WebSocket, subprotocol v5.channel.k8s.io (or v4), run by the fake command
 *   runner below. SPDY upgrades are refused with 400, as are attach and portforward.
 * - everything else: 404 with a NotFound Status; PUT and PATCH: 405.
 *
 * The fake command runner knows these programs (a leading directory is ignored):
 * - `echo [-n] ARGS…`, `cat` (copies stdin to stdout until stdin closes), `sleep SECONDS`,
 *   `true`, `false`, `hostname` (the pod's name), `exit [N]` (inside a shell);
 * - `sh`/`bash` `-c SCRIPT`: the script is a list of the commands above joined by `;`, `&&`, `||`
 *   or newlines; words split on blanks, with '…', "…" and \ quoting but no expansions; `>&2`
 *   sends a command's output to stderr; `#` starts a comment. Pipes, other redirections, `$`,
 *   backquotes and parentheses fail with status 2.
 * - `sh` without -c reads lines from stdin and runs each as a script (with a `# ` prompt and echo
 *   of the input when tty=true), until stdin closes or `exit`.
 * - anything else: a message on stderr and exit code 127.
 * With tty=true, stderr goes to stdout and "\n" is written as "\r\n", as a terminal would.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { stringify } from 'yaml';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image: string;
  [field: string]: unknown;
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  state?: { running?: { startedAt?: string }; waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number } };
  [field: string]: unknown;
}

export interface Pod extends KubeObject {
  spec: { containers: Container[]; nodeName?: string; [field: string]: unknown };
  status: { phase: string; podIP?: string; containerStatuses?: ContainerStatus[]; [field: string]: unknown };
}

export interface RecordedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  /** A parameter given once is a string, one given several times (exec's `command`) an array. */
  query: Record<string, string | string[]>;
  headers: IncomingHttpHeaders;
  /** The status answered, once it has been; 101 for an accepted WebSocket upgrade. */
  status?: number;
}

export interface ExecSession {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** The negotiated WebSocket subprotocol. */
  protocol: string;
  /** Everything received on the stdin channel. */
  input: string;
  resizes: { Width: number; Height: number }[];
  /** Set when the command has ended. */
  exitCode?: number;
}

export interface FakeKubeApiserver {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** PEM; the server's own (self-signed) certificate. */
  readonly caCert: string;
  readonly token: string;
  /** Every request seen, authorized or not, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Every exec that got as far as a WebSocket. */
  readonly execs: ExecSession[];
  /** Writes a kubeconfig (context "fake", namespace default) straight to this server with the token. */
  kubeconfig(path: string): Promise<void>;
  /** A copy of the stored pod. */
  pod(namespace: string, name: string): Pod | undefined;
  /** Stores (or, for DELETED, removes) the pod with a new resourceVersion and sends the event to watchers; returns what was sent. */
  emitPodEvent(type: WatchEventType, pod: Pod): Pod;
  /** Adds a line to the pod's log, sent at once to `follow` readers. */
  appendPodLog(namespace: string, name: string, line: string): void;
  close(): Promise<void>;
}

const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const V5 = 'v5.channel.k8s.io';
const V4 = 'v4.channel.k8s.io';
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;
const PROCESS_START_MS = 50;

export const PII = { email: 'jane.doe@example.com', card: '4111111111111111' } as const;

// --- Resource types ---------------------------------------------------------------------------

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources: { name: string; kind: string; verbs: string[] }[];
  /** Table columns after Name. */
  columns: Column[];
  cells(object: KubeObject, now: number): unknown[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const column = (name: string, type: string, description: string, priority = 0, format = ''): Column => ({ name, type, format, description, priority });
const NAME_COLUMN = column('Name', 'string', 'Name must be unique within a namespace.', 0, 'name');
const AGE_COLUMN = column('Age', 'string', 'Time since the object was created (metadata.creationTimestamp).');

const RESOURCES: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: [
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    ],
    columns: [
      column('Ready', 'string', 'Ready containers out of all containers.'),
      column('Status', 'string', 'The aggregate status of the containers in this pod.'),
      column('Restarts', 'string', 'Container restarts in this pod, and when the last one was.'),
      AGE_COLUMN,
      column('IP', 'string', 'The pod IP.', 1),
      column('Node', 'string', 'The node the pod is bound to.', 1),
      column('Nominated Node', 'string', 'The node nominated for preemption.', 1),
      column('Readiness Gates', 'string', 'Readiness gates met out of all.', 1),
    ],
    cells: (object, now) => podCells(object as Pod, now),
  },
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    namespaced: true,
    subresources: [],
    columns: [column('Type', 'string', 'The type of the secret.'), column('Data', 'integer', 'The number of data entries.'), AGE_COLUMN],
    cells: (object, now) => [object.type ?? 'Opaque', Object.keys((object.data as Record<string, string> | undefined) ?? {}).length, age(object, now)],
  },
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: [
      { name: 'finalize', kind: 'Namespace', verbs: ['update'] },
      { name: 'status', kind: 'Namespace', verbs: ['get', 'patch', 'update'] },
    ],
    columns: [column('Status', 'string', 'The phase of the namespace.'), AGE_COLUMN],
    cells: (object, now) => [(object.status as { phase?: string } | undefined)?.phase ?? 'Active', age(object, now)],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [
      { name: 'scale', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
      { name: 'status', kind: 'Deployment', verbs: ['get', 'patch', 'update'] },
    ],
    columns: [
      column('Ready', 'string', 'Ready replicas out of desired.'),
      column('Up-to-date', 'integer', 'Replicas updated to the latest template.'),
      column('Available', 'integer', 'Available replicas.'),
      AGE_COLUMN,
      column('Containers', 'string', 'Container names in the template.', 1),
      column('Images', 'string', 'Container images in the template.', 1),
      column('Selector', 'string', 'The label selector of the pods.', 1),
    ],
    cells: (object, now) => deploymentCells(object, now),
  },
];

const groupVersionOf = (resource: ResourceType) => (resource.group ? `${resource.group}/${resource.version}` : resource.version);
/** "pods", or "deployments.apps" as error messages name them. */
const qualifiedName = (resource: ResourceType) => (resource.group ? `${resource.plural}.${resource.group}` : resource.plural);

function podCells(pod: Pod, now: number): unknown[] {
  const statuses = pod.status.containerStatuses ?? [];
  const ready = statuses.filter((s) => s.ready).length;
  let reason = pod.status.phase;
  for (const s of statuses) {
    if (s.state?.waiting?.reason) reason = s.state.waiting.reason;
    else if (s.state?.terminated?.reason) reason = s.state.terminated.reason;
  }
  if (pod.metadata.deletionTimestamp) reason = 'Terminating';
  const restarts = statuses.reduce((sum, s) => sum + s.restartCount, 0);
  const lastFinished = statuses
    .map((s) => (s.lastState as { terminated?: { finishedAt?: string } } | undefined)?.terminated?.finishedAt)
    .filter((t): t is string => typeof t === 'string')
    .sort()
    .at(-1);
  const restartCell = lastFinished ? `${restarts} (${humanDuration(now - Date.parse(lastFinished))} ago)` : String(restarts);
  return [`${ready}/${pod.spec.containers.length}`, reason, restartCell, age(pod, now), pod.status.podIP ?? '<none>', pod.spec.nodeName ?? '<none>', '<none>', '<none>'];
}

function deploymentCells(object: KubeObject, now: number): unknown[] {
  const spec = object.spec as { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template?: { spec?: { containers?: Container[] } } };
  const status = (object.status ?? {}) as { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
  const containers = spec.template?.spec?.containers ?? [];
  const selector = Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  return [
    `${status.readyReplicas ?? 0}/${spec.replicas ?? 1}`,
    status.updatedReplicas ?? 0,
    status.availableReplicas ?? 0,
    age(object, now),
    containers.map((c) => c.name).join(','),
    containers.map((c) => c.image).join(','),
    selector,
  ];
}

const age = (object: KubeObject, now: number) =>
  object.metadata.creationTimestamp ? humanDuration(now - Date.parse(object.metadata.creationTimestamp)) : '<unknown>';

/** Durations the way kubectl's AGE column shows them: 90s, 5m30s, 47m, 3h12m, 20h, 2d5h, 40d, 3y20d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

// --- Seed data --------------------------------------------------------------------------------

const timestamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const b64 = (text: string) => Buffer.from(text).toString('base64');

function makePod(namespace: string, name: string, app: string, image: string, ip: string, createdAt: number): Pod {
  const container = name.replace(/-[^-]+$/, '');
  const started = timestamp(createdAt + 4000);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app }, creationTimestamp: timestamp(createdAt) },
    spec: {
      containers: [
        {
          name: container,
          image,
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      nodeName: 'node-1',
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
    },
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: started,
      })),
      hostIP: '10.0.0.11',
      hostIPs: [{ ip: '10.0.0.11' }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: timestamp(createdAt + 1000),
      containerStatuses: [
        {
          name: container,
          state: { running: { startedAt: started } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image,
          imageID: `${image.replace(/:[^:/]+$/, '')}@sha256:${hex(32)}`,
          containerID: `containerd://${hex(32)}`,
          started: true,
        },
      ],
      qosClass: 'BestEffort',
    },
  };
}

function seedObjects(now: number): { resource: string; object: KubeObject }[] {
  const hoursAgo = (hours: number) => now - hours * 3_600_000;
  const namespaces = ['default', 'kube-system', 'kube-public'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name }, creationTimestamp: timestamp(hoursAgo(24 * 40)) },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }));
  const pods = [
    makePod('default', 'web-0', 'web', 'nginx:1.27.3', '10.244.0.12', hoursAgo(3)),
    makePod('default', 'api-0', 'api', 'ghcr.io/example/api:2.4.1', '10.244.0.13', hoursAgo(0.8)),
    makePod('kube-system', 'coredns-0', 'coredns', 'registry.k8s.io/coredns/coredns:v1.11.3', '10.244.0.2', hoursAgo(24 * 40)),
  ];
  const contactData = { email: b64(PII.email), 'card-number': b64(PII.card), phone: b64('+1-202-555-0143') };
  const secrets = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db-credentials', namespace: 'default', creationTimestamp: timestamp(hoursAgo(24 * 12)) },
      type: 'Opaque',
      data: { username: b64('app'), password: b64('s3cr3t-P@ssw0rd') },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'customer-contact',
        namespace: 'default',
        creationTimestamp: timestamp(hoursAgo(26)),
        // What `kubectl apply` leaves behind: the same values again, inside an annotation.
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify({
            apiVersion: 'v1',
            data: contactData,
            kind: 'Secret',
            metadata: { annotations: {}, name: 'customer-contact', namespace: 'default' },
            type: 'Opaque',
          })}\n`,
        },
      },
      type: 'Opaque',
      data: contactData,
    },
  ];
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' }, generation: 1, creationTimestamp: timestamp(hoursAgo(3)) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27.3' }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
  };
  return [
    ...namespaces.map((object) => ({ resource: 'namespaces', object })),
    ...pods.map((object) => ({ resource: 'pods', object: object as KubeObject })),
    ...secrets.map((object) => ({ resource: 'secrets', object })),
    { resource: 'deployments', object: deployment },
  ];
}

interface LogLine {
  time: number;
  text: string;
}

function seedLogs(now: number): Map<string, LogLine[]> {
  const line = (minutesAgo: number, text: (at: string) => string): LogLine => {
    const time = now - minutesAgo * 60_000;
    return { time, text: text(timestamp(time)) };
  };
  return new Map([
    [
      'default/web-0',
      [
        line(180, (at) => `${at} [notice] nginx/1.27.3 start worker processes`),
        line(42, (at) => `10.244.0.1 - - [${at}] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.32"`),
        line(12, (at) => `10.244.0.7 - - [${at}] "POST /signup HTTP/1.1" 201 57 "-" "curl/8.5.0" email=${PII.email}`),
        line(3, (at) => `10.244.0.7 - - [${at}] "POST /checkout HTTP/1.1" 402 31 "-" "curl/8.5.0" card=${PII.card} declined`),
      ],
    ],
    ['default/api-0', [line(48, (at) => `${at} INFO listening on :8080`), line(20, (at) => `${at} INFO password reset requested for ${PII.email}`)]],
    ['kube-system/coredns-0', ['.:53', 'CoreDNS-1.11.3', 'linux/amd64, go1.21.11, a6338e9'].map((text) => line(24 * 60 * 40, () => text))],
  ]);
}

// --- Wire helpers -----------------------------------------------------------------------------

function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

const notFoundResource = () => statusObject(404, 'NotFound', 'the server could not find the requested resource', {});

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private' });
  response.end(text);
}

function sendStatus(response: ServerResponse, status: ReturnType<typeof statusObject>): void {
  sendJson(response, status.code, status);
}

function rejectUpgrade(socket: Duplex, status: ReturnType<typeof statusObject>): void {
  const text = JSON.stringify(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

type Representation = { table: false } | { table: true; version: 'v1' | 'v1beta1' };

/**
 * The first representation in the Accept list that this server can produce: plain JSON, or a
 * meta.k8s.io Table when `tables`. Aggregated discovery, PartialObjectMetadata, protobuf and CBOR
 * are skipped, so a client listing plain JSON after them gets that. undefined: 406.
 */
function negotiate(accept: string | undefined, tables: boolean): Representation | undefined {
  if (!accept?.trim()) return { table: false };
  for (const entry of accept.split(',')) {
    const [type = '', ...rawParameters] = entry.split(';').map((part) => part.trim());
    if (!['application/json', 'application/*', '*/*'].includes(type.toLowerCase())) continue;
    const parameters = new Map(rawParameters.map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()] as const));
    const as = parameters.get('as');
    if (!as) return { table: false };
    const version = parameters.get('v');
    if (tables && as === 'Table' && parameters.get('g') === 'meta.k8s.io' && (version === 'v1' || version === 'v1beta1')) return { table: true, version };
  }
  return undefined;
}

const notAcceptable = () =>
  statusObject(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io');

function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    query[key] = values.length === 1 ? values[0]! : values;
  }
  return query;
}

const isTrue = (value: string | null) => value === 'true' || value === '1';

// --- Selectors --------------------------------------------------------------------------------

type Requirement = { key: string; op: '=' | '!=' | 'exists' | '!exists'; value: string };

/** Equality-based selectors only (`a=b,c!=d,e,!f`); set-based ones (`in (…)`) are not supported. */
function parseSelector(text: string | null): Requirement[] {
  if (!text) return [];
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part): Requirement => {
      const match = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
      if (match) return { key: match[1]!, op: match[2] === '!=' ? '!=' : '=', value: match[3]! };
      return part.startsWith('!') ? { key: part.slice(1), op: '!exists', value: '' } : { key: part, op: 'exists', value: '' };
    });
}

function fieldValue(object: KubeObject, path: string): string | undefined {
  let value: unknown = object;
  for (const key of path.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value === undefined || value === null ? undefined : String(value);
}

function satisfies(value: string | undefined, requirement: Requirement): boolean {
  switch (requirement.op) {
    case '=':
      return value === requirement.value;
    case '!=':
      return value !== requirement.value;
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
  }
}

function matcher(params: URLSearchParams): (object: KubeObject) => boolean {
  const labels = parseSelector(params.get('labelSelector'));
  const fields = parseSelector(params.get('fieldSelector'));
  return (object) =>
    labels.every((r) => satisfies(object.metadata.labels?.[r.key], r)) && fields.every((r) => satisfies(fieldValue(object, r.key), r));
}

// --- Fake command runner ----------------------------------------------------------------------

/** A container's stdin: chunks as they arrive, then null once the client has closed it. */
class Input {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(chunk: Buffer): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.wake?.();
  }

  unshift(chunk: Buffer): void {
    this.chunks.unshift(chunk);
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async read(): Promise<Buffer | null> {
    while (this.chunks.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    return this.chunks.shift() ?? null;
  }
}

interface Io {
  stdin: Input;
  out(text: string | Buffer): void;
  err(text: string | Buffer): void;
  /** Echo of typed input, as a terminal in cooked mode does; no-op without tty. */
  echo(text: Buffer): void;
  tty: boolean;
  hostname: string;
  signal: AbortSignal;
}

interface Outcome {
  code: number;
  /** `exit` was run: the enclosing shell stops too. */
  exit?: boolean;
}

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash']);

async function runProgram(argv: string[], io: Io, inShell: boolean): Promise<Outcome> {
  const [path = '', ...args] = argv;
  const program = path.slice(path.lastIndexOf('/') + 1);
  switch (program) {
    case 'echo': {
      const newline = args[0] !== '-n';
      io.out(`${(newline ? args : args.slice(1)).join(' ')}${newline ? '\n' : ''}`);
      return { code: 0 };
    }
    case 'cat': {
      if (args.length > 0) {
        io.err(`cat: ${args[0]}: No such file or directory\n`);
        return { code: 1 };
      }
      for (let chunk = await io.stdin.read(); chunk; chunk = await io.stdin.read()) {
        io.echo(chunk);
        io.out(chunk);
      }
      return { code: 0 };
    }
    case 'sleep': {
      const seconds = Number(args[0]);
      if (!Number.isFinite(seconds) || seconds < 0) {
        io.err(`sleep: invalid time interval '${args[0] ?? ''}'\n`);
        return { code: 1 };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        io.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      return { code: 0 };
    }
    case 'true':
      return { code: 0 };
    case 'false':
      return { code: 1 };
    case 'hostname':
      io.out(`${io.hostname}\n`);
      return { code: 0 };
    case 'exit':
      if (inShell) return { code: args[0] === undefined ? 0 : Number(args[0]) & 0xff, exit: true };
      break;
    default:
      if (SHELLS.has(program)) {
        if (args[0] === '-c') return { code: (await runScript(args[1] ?? '', io)).code };
        if (args.length === 0) return { code: await interactiveShell(io) };
        io.err(`${program}: 0: cannot open ${args[0]}: No such file\n`);
        return { code: 2 };
      }
  }
  io.err(inShell ? `sh: 1: ${path}: not found\n` : `exec: "${path}": executable file not found in $PATH\n`);
  return { code: 127 };
}

type Statement = { argv: string[]; toStderr: boolean; connector: ';' | '&&' | '||' };

function parseScript(script: string): Statement[] | { error: string } {
  const statements: Statement[] = [];
  let current: Statement = { argv: [], toStderr: false, connector: ';' };
  let word: string | undefined;
  const endWord = () => {
    if (word !== undefined) current.argv.push(word);
    word = undefined;
  };
  const endStatement = (connector: Statement['connector']) => {
    endWord();
    if (current.argv.length > 0) statements.push(current);
    current = { argv: [], toStderr: false, connector };
  };
  for (let i = 0; i < script.length; i += 1) {
    const c = script[i]!;
    const rest = script.slice(i);
    if (c === "'" || c === '"') {
      const close = script.indexOf(c, i + 1);
      if (close < 0) return { error: 'unterminated quoted string' };
      const quoted = script.slice(i + 1, close);
      word = (word ?? '') + (c === '"' ? quoted.replace(/\\(["\\])/g, '$1') : quoted);
      i = close;
    } else if (c === '\\' && i + 1 < script.length) {
      word = (word ?? '') + script[i + 1];
      i += 1;
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === '#' && word === undefined) {
      const newline = script.indexOf('\n', i);
      i = newline < 0 ? script.length : newline - 1;
    } else if (c === ';' || c === '\n') {
      endStatement(';');
    } else if (rest.startsWith('&&') || rest.startsWith('||')) {
      endStatement(rest.startsWith('&&') ? '&&' : '||');
      i += 1;
    } else if (rest.startsWith('>&2') || rest.startsWith('1>&2')) {
      if (word === '1') word = undefined;
      endWord();
      current.toStderr = true;
      i += rest.startsWith('1') ? 3 : 2;
    } else if ('|&<>$`()'.includes(c)) {
      return { error: `unsupported syntax "${c}"` };
    } else {
      word = (word ?? '') + c;
    }
  }
  endStatement(';');
  return statements;
}

async function runScript(script: string, io: Io): Promise<Outcome> {
  const parsed = parseScript(script);
  if ('error' in parsed) {
    io.err(`sh: 1: fake shell: ${parsed.error}\n`);
    return { code: 2 };
  }
  let code = 0;
  for (const statement of parsed) {
    if ((statement.connector === '&&' && code !== 0) || (statement.connector === '||' && code === 0)) continue;
    const outcome = await runProgram(statement.argv, statement.toStderr ? { ...io, out: io.err } : io, true);
    if (outcome.exit) return outcome;
    code = outcome.code;
  }
  return { code };
}

async function readLine(io: Io): Promise<string | null> {
  let line = Buffer.alloc(0);
  for (let chunk = await io.stdin.read(); chunk; chunk = await io.stdin.read()) {
    const end = chunk.findIndex((byte) => byte === 0x0a || byte === 0x0d);
    if (end < 0) {
      io.echo(chunk);
      line = Buffer.concat([line, chunk]);
      continue;
    }
    io.echo(chunk.subarray(0, end + 1));
    const skip = chunk[end] === 0x0d && chunk[end + 1] === 0x0a ? 2 : 1;
    if (end + skip < chunk.length) io.stdin.unshift(chunk.subarray(end + skip));
    return Buffer.concat([line, chunk.subarray(0, end)]).toString();
  }
  return line.length > 0 ? line.toString() : null;
}

async function interactiveShell(io: Io): Promise<number> {
  let code = 0;
  for (;;) {
    if (io.tty) io.out('# ');
    const line = await readLine(io);
    if (line === null) return code;
    const outcome = await runScript(line, io);
    if (outcome.exit) return outcome.code;
    code = outcome.code;
  }
}

function exitStatus(code: number, command: string[]) {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

// --- The server -------------------------------------------------------------------------------

interface Watcher {
  resource: ResourceType;
  namespace: string | undefined;
  matches(object: KubeObject): boolean;
  send(type: WatchEventType, object: KubeObject): void;
}

interface HistoryEntry {
  resource: ResourceType;
  version: number;
  type: WatchEventType;
  object: KubeObject;
}

export async function startFakeKubeApiserver(options: { token?: string } = {}): Promise<FakeKubeApiserver> {
  const token = options.token ?? randomBytes(24).toString('base64url');
  const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
  const requests: RecordedRequest[] = [];
  const execs: ExecSession[] = [];
  const started = Date.now();

  let latestVersion = 1000;
  const stores = new Map<ResourceType, Map<string, KubeObject>>(RESOURCES.map((r) => [r, new Map()]));
  const history: HistoryEntry[] = [];
  const watchers = new Set<Watcher>();
  const logs = seedLogs(started);
  const logFollowers = new Map<string, Set<(line: LogLine) => void>>();
  const openSockets = new Set<WebSocket>();
  const stopActions = new Set<() => void>();

  const resourceNamed = (plural: string) => RESOURCES.find((r) => r.plural === plural)!;
  const keyOf = (object: KubeObject) => `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  const copy = <T>(value: T): T => structuredClone(value);

  function store(resource: ResourceType, type: WatchEventType, incoming: KubeObject): KubeObject {
    const object = copy(incoming);
    const existing = stores.get(resource)!.get(keyOf(object));
    latestVersion += 1;
    object.apiVersion = groupVersionOf(resource);
    object.kind = resource.kind;
    object.metadata.uid ??= existing?.metadata.uid ?? randomUUID();
    object.metadata.creationTimestamp ??= existing?.metadata.creationTimestamp ?? timestamp(Date.now());
    object.metadata.resourceVersion = String(latestVersion);
    if (type === 'DELETED') stores.get(resource)!.delete(keyOf(object));
    else stores.get(resource)!.set(keyOf(object), object);
    history.push({ resource, version: latestVersion, type, object });
    for (const watcher of watchers) {
      if (watcher.resource !== resource) continue;
      if (watcher.namespace !== undefined && watcher.namespace !== object.metadata.namespace) continue;
      if (watcher.matches(object)) watcher.send(type, object);
    }
    return copy(object);
  }

  for (const { resource, object } of seedObjects(started)) store(resourceNamed(resource), 'ADDED', object);

  const objectsOf = (resource: ResourceType, namespace: string | undefined, matches: (o: KubeObject) => boolean) =>
    [...stores.get(resource)!.values()]
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matches(o))
      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));

  /** As the apiserver sends it: a watch sends the columns with its first event only (null after). */
  function table(resource: ResourceType, objects: KubeObject[], tableVersion: string, params: URLSearchParams, withColumns: boolean, resourceVersion: string) {
    const include = params.get('includeObject') ?? 'Metadata';
    const now = Date.now();
    return {
      kind: 'Table',
      apiVersion: `meta.k8s.io/${tableVersion}`,
      metadata: { resourceVersion },
      columnDefinitions: withColumns ? [NAME_COLUMN, ...resource.columns] : null,
      rows: objects.map((object) => ({
        cells: [object.metadata.name, ...resource.cells(object, now)],
        object:
          include === 'None'
            ? null
            : include === 'Object'
              ? object
              : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${tableVersion}`, metadata: object.metadata },
      })),
    };
  }

  const apiResourceList = (group: string, version: string) => {
    const resources = RESOURCES.filter((r) => r.group === group && r.version === version).flatMap((r) => [
      {
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ALL_VERBS,
        ...(r.shortNames ? { shortNames: r.shortNames } : {}),
        ...(r.categories ? { categories: r.categories } : {}),
        storageVersionHash: Buffer.from(`${group}/${r.plural}`).toString('base64').slice(0, 11) + '=',
      },
      ...r.subresources.map((s) => ({ name: `${r.plural}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: s.verbs })),
    ]);
    const groupVersion = group ? `${group}/${version}` : version;
    // The core group's list has no apiVersion, the named groups' lists do.
    return group ? { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources } : { kind: 'APIResourceList', groupVersion, resources };
  };
  const appsGroup = { name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } };

  function record(request: IncomingMessage, url: URL): RecordedRequest {
    const entry: RecordedRequest = { method: request.method ?? 'GET', path: url.pathname, query: queryRecord(url.searchParams), headers: request.headers };
    requests.push(entry);
    return entry;
  }

  const authorized = (request: IncomingMessage) => request.headers.authorization === `Bearer ${token}`;
  const unauthorized = () => statusObject(401, 'Unauthorized', 'Unauthorized');

  interface Route {
    resource: ResourceType;
    namespace: string | undefined;
    name: string | undefined;
    subresource: string | undefined;
  }

  function route(pathname: string): Route | undefined {
    let group: string;
    let version: string;
    let rest: string;
    const core = /^\/api\/v1\/(.+)$/.exec(pathname);
    const named = /^\/apis\/([^/]+)\/([^/]+)\/(.+)$/.exec(pathname);
    if (core) [group, version, rest] = ['', 'v1', core[1]!];
    else if (named) [group, version, rest] = [named[1]!, named[2]!, named[3]!];
    else return undefined;
    let segments: string[];
    try {
      segments = rest.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return undefined;
    }
    let namespace: string | undefined;
    if (segments[0] === 'namespaces' && segments.length >= 3) {
      namespace = segments[1];
      segments = segments.slice(2);
    }
    if (segments.length > 3) return undefined;
    const [plural, name, subresource] = segments;
    const resource = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
    if (!resource) return undefined;
    if (namespace !== undefined && !resource.namespaced) return undefined;
    if (namespace === undefined && resource.namespaced && name !== undefined) return undefined;
    return { resource, namespace, name, subresource };
  }

  async function readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function serveWatch(response: ServerResponse, target: Route, params: URLSearchParams, representation: Representation): void {
    const matches = matcher(params);
    let first = true;
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    response.flushHeaders();
    const send = (type: WatchEventType, object: KubeObject) => {
      const body = representation.table ? table(target.resource, [object], representation.version, params, first, object.metadata.resourceVersion ?? '') : object;
      first = false;
      response.write(`${JSON.stringify({ type, object: body })}\n`);
    };
    const from = params.get('resourceVersion');
    if (!from || from === '0') {
      for (const object of objectsOf(target.resource, target.namespace, matches)) send('ADDED', object);
    } else {
      for (const entry of history) {
        if (entry.resource !== target.resource || entry.version <= Number(from)) continue;
        if (target.namespace !== undefined && entry.object.metadata.namespace !== target.namespace) continue;
        if (matches(entry.object)) send(entry.type, entry.object);
      }
    }
    const watcher: Watcher = { resource: target.resource, namespace: target.namespace, matches, send };
    watchers.add(watcher);
    const end = () => response.end();
    stopActions.add(end);
    const timeout = Number(params.get('timeoutSeconds'));
    const timer = timeout > 0 ? setTimeout(end, timeout * 1000) : undefined;
    response.once('close', () => {
      watchers.delete(watcher);
      stopActions.delete(end);
      clearTimeout(timer);
    });
  }

  function serveLog(response: ServerResponse, pod: Pod, params: URLSearchParams): void {
    const names = pod.spec.containers.map((c) => c.name);
    const container = params.get('container');
    if (container !== null && !names.includes(container)) {
      return sendStatus(response, statusObject(400, 'BadRequest', `container ${container} is not valid for pod ${pod.metadata.name}`));
    }
    if (container === null && names.length > 1) {
      return sendStatus(response, statusObject(400, 'BadRequest', `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`));
    }
    const key = keyOf(pod);
    const withTimestamps = isTrue(params.get('timestamps'));
    const format = (line: LogLine) => `${withTimestamps ? `${new Date(line.time).toISOString().replace('Z', '000000Z')} ` : ''}${line.text}\n`;
    let lines = logs.get(key) ?? [];
    const tail = params.get('tailLines');
    if (tail !== null && Number(tail) >= 0) lines = Number(tail) === 0 ? [] : lines.slice(-Number(tail));
    let text = lines.map(format).join('');
    const limit = params.get('limitBytes');
    if (limit !== null && Number(limit) > 0) text = Buffer.from(text).subarray(0, Number(limit)).toString();
    response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private' });
    if (!isTrue(params.get('follow'))) {
      response.end(text);
      return;
    }
    response.write(text);
    const follower = (line: LogLine) => response.write(format(line));
    const followers = logFollowers.get(key) ?? new Set();
    logFollowers.set(key, followers);
    followers.add(follower);
    const end = () => response.end();
    stopActions.add(end);
    response.once('close', () => {
      followers.delete(follower);
      stopActions.delete(end);
    });
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://localhost');
    const entry = record(request, url);
    response.once('finish', () => (entry.status = response.statusCode));
    if (!authorized(request)) return sendStatus(response, unauthorized());
    const { pathname, searchParams: params } = url;
    const method = request.method ?? 'GET';

    const discovery: Record<string, () => unknown> = {
      '/version': () => SERVER_VERSION,
      '/api': () => ({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }] }),
      '/apis': () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: [appsGroup] }),
      '/apis/apps': () => ({ kind: 'APIGroup', apiVersion: 'v1', ...appsGroup }),
      '/api/v1': () => apiResourceList('', 'v1'),
      '/apis/apps/v1': () => apiResourceList('apps', 'v1'),
    };
    const document = discovery[pathname.replace(/(.)\/$/, '$1')];
    if (document) {
      if (method !== 'GET') return sendStatus(response, statusObject(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
      if (!negotiate(request.headers.accept, false)) return sendStatus(response, notAcceptable());
      return sendJson(response, 200, document());
    }

    const target = route(pathname);
    if (!target) return sendStatus(response, notFoundResource());
    const { resource, namespace, name, subresource } = target;
    const notFound = (objectName: string) =>
      statusObject(404, 'NotFound', `${qualifiedName(resource)} "${objectName}" not found`, {
        name: objectName,
        ...(resource.group ? { group: resource.group } : {}),
        kind: resource.plural,
      });
    const objectKey = `${namespace ?? ''}/${name ?? ''}`;

    if (subresource !== undefined) {
      if (resource.plural !== 'pods' || name === undefined) return sendStatus(response, notFoundResource());
      const pod = stores.get(resource)!.get(objectKey) as Pod | undefined;
      if (subresource === 'log' && method === 'GET') return pod ? serveLog(response, pod, params) : sendStatus(response, notFound(name));
      if (['exec', 'attach', 'portforward'].includes(subresource)) return sendStatus(response, statusObject(400, 'BadRequest', 'Upgrade request required'));
      return sendStatus(response, notFoundResource());
    }

    if (method === 'GET') {
      const representation = negotiate(request.headers.accept, true);
      if (!representation) return sendStatus(response, notAcceptable());
      if (name !== undefined) {
        const object = stores.get(resource)!.get(objectKey);
        if (!object) return sendStatus(response, notFound(name));
        return sendJson(response, 200, representation.table ? table(resource, [object], representation.version, params, true, object.metadata.resourceVersion ?? '') : object);
      }
      if (isTrue(params.get('watch'))) return serveWatch(response, target, params, representation);
      const objects = objectsOf(resource, namespace, matcher(params));
      const version = String(latestVersion);
      if (representation.table) return sendJson(response, 200, table(resource, objects, representation.version, params, true, version));
      // Items of a typed list carry no apiVersion and kind.
      const items = objects.map(({ apiVersion: _apiVersion, kind: _kind, ...rest }) => rest);
      return sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: groupVersionOf(resource), metadata: { resourceVersion: version }, items });
    }

    if (method === 'POST' && name === undefined) {
      let body: KubeObject;
      try {
        body = JSON.parse(await readBody(request)) as KubeObject;
      } catch (error) {
        return sendStatus(response, statusObject(400, 'BadRequest', `the body of the request was in an unknown format: ${(error as Error).message}`));
      }
      if (body?.kind !== resource.kind || typeof body.metadata?.name !== 'string' || !body.metadata.name) {
        return sendStatus(response, statusObject(400, 'BadRequest', `expected a ${resource.kind} with metadata.name`));
      }
      if (namespace !== undefined) body.metadata.namespace = namespace;
      if (stores.get(resource)!.has(keyOf(body))) {
        return sendStatus(
          response,
          statusObject(409, 'AlreadyExists', `${qualifiedName(resource)} "${body.metadata.name}" already exists`, { name: body.metadata.name, kind: resource.plural }),
        );
      }
      if (resource.plural === 'pods' && !(body.status as { phase?: string } | undefined)?.phase) {
        // Scheduled and running at once: there is no kubelet to get it there.
        const spec = { containers: [], ...(body.spec as Partial<Pod['spec']> | undefined) } as Pod['spec'];
        const template = makePod(body.metadata.namespace ?? 'default', body.metadata.name, body.metadata.name, spec.containers[0]?.image ?? 'busybox', '10.244.0.99', Date.now());
        const running = template.status.containerStatuses![0]!;
        body.spec = { ...template.spec, ...spec };
        body.status = { ...template.status, containerStatuses: spec.containers.map((c) => ({ ...running, name: c.name, image: c.image })) };
      }
      delete body.metadata.resourceVersion;
      if (params.get('dryRun') === 'All') return sendJson(response, 201, body);
      return sendJson(response, 201, store(resource, 'ADDED', body));
    }

    if (method === 'DELETE' && name !== undefined) {
      const object = stores.get(resource)!.get(objectKey);
      if (!object) return sendStatus(response, notFound(name));
      return sendJson(response, 200, store(resource, 'DELETED', object));
    }

    return sendStatus(response, statusObject(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }

  const sockets = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has(V5) ? V5 : offered.has(V4) ? V4 : false),
  });

  function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'https://localhost');
    const entry = record(request, url);
    const reject = (status: ReturnType<typeof statusObject>) => {
      entry.status = status.code;
      rejectUpgrade(socket, status);
    };
    socket.on('error', () => socket.destroy());
    if (!authorized(request)) return reject(unauthorized());
    const target = route(url.pathname);
    if (!target || target.resource.plural !== 'pods' || target.name === undefined || target.subresource === undefined) return reject(notFoundResource());
    if (target.subresource !== 'exec') return reject(statusObject(400, 'BadRequest', `fake kube-apiserver: ${target.subresource} is not supported`));
    const pod = stores.get(target.resource)!.get(`${target.namespace}/${target.name}`) as Pod | undefined;
    if (!pod) return reject(statusObject(404, 'NotFound', `pods "${target.name}" not found`, { name: target.name, kind: 'pods' }));
    const params = url.searchParams;
    const command = params.getAll('command');
    if (command.length === 0) return reject(statusObject(400, 'BadRequest', 'you must specify at least 1 command'));
    const names = pod.spec.containers.map((c) => c.name);
    const container = params.get('container') ?? pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'] ?? names[0] ?? '';
    if (!names.includes(container)) return reject(statusObject(400, 'BadRequest', `container ${container} is not valid for pod ${pod.metadata.name}`));
    // Checked last: kubectl retries with SPDY after any refused WebSocket upgrade and shows the
    // SPDY attempt's error, so the errors above must come first to reach the user.
    const protocol = String(request.headers.upgrade ?? '');
    if (protocol.toLowerCase() !== 'websocket' || request.method !== 'GET') {
      return reject(statusObject(400, 'BadRequest', `fake kube-apiserver: streaming is WebSocket only (GET with Upgrade: websocket), not ${request.method} with Upgrade: ${protocol}`));
    }
    const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(V5) && !offered.includes(V4)) {
      return reject(statusObject(400, 'BadRequest', `fake kube-apiserver: none of the subprotocols [${offered.join(' ')}] is supported; offer ${V5} or ${V4}`));
    }
    sockets.handleUpgrade(request, socket, head, (ws) => {
      entry.status = 101;
      const session: ExecSession = {
        namespace: target.namespace ?? '',
        pod: pod.metadata.name,
        container,
        command,
        stdin: isTrue(params.get('stdin')),
        stdout: isTrue(params.get('stdout')),
        stderr: isTrue(params.get('stderr')),
        tty: isTrue(params.get('tty')),
        protocol: ws.protocol,
        input: '',
        resizes: [],
      };
      execs.push(session);
      runExec(ws, session);
    });
  }

  function runExec(ws: WebSocket, session: ExecSession): void {
    openSockets.add(ws);
    const stdin = new Input();
    const decoder = new StringDecoder('utf8');
    const abort = new AbortController();
    const send = (channel: number, data: string | Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
    };
    const terminal = (text: string | Buffer) => Buffer.from(Buffer.from(text).toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    const out = (text: string | Buffer) => {
      if (session.stdout) send(STDOUT, session.tty ? terminal(text) : text);
    };
    const io: Io = {
      stdin,
      out,
      err: (text) => (session.tty ? out(text) : session.stderr ? send(STDERR, text) : undefined),
      echo: (text) => {
        if (session.tty) out(Buffer.from(text.toString('latin1').replace(/\r/g, '\n'), 'latin1'));
      },
      tty: session.tty,
      hostname: session.pod,
      signal: abort.signal,
    };
    ws.on('message', (data: RawData) => {
      const message = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const payload = message.subarray(1);
      switch (message[0]) {
        case STDIN:
          if (session.stdin) {
            session.input += decoder.write(payload);
            stdin.push(payload);
          }
          break;
        case RESIZE:
          try {
            session.resizes.push(JSON.parse(payload.toString()) as { Width: number; Height: number });
          } catch {
            // a malformed resize is ignored, as the kubelet does
          }
          break;
        case CLOSE:
          if (ws.protocol === V5 && payload[0] === STDIN) stdin.end();
          break;
      }
    });
    const stop = () => ws.terminate();
    stopActions.add(stop);
    ws.on('close', () => {
      openSockets.delete(ws);
      stopActions.delete(stop);
      abort.abort();
      stdin.end();
    });
    if (!session.stdin) stdin.end();
    // A kubelet takes tens of milliseconds to start a process in the container. client-go starts
    // reading frames before it registers its stream handlers, so a server that answers in the
    // same instant can have its frames dropped ("Unknown stream id"); wait as a runtime would.
    void delay(PROCESS_START_MS)
      .then(() => runProgram(session.command, io, false))
      .catch((error: unknown) => {
        io.err(`fake kube-apiserver: ${(error as Error).message}\n`);
        return { code: 126 };
      })
      .then(({ code }) => {
        session.exitCode = code;
        send(ERROR, JSON.stringify(exitStatus(code, session.command)));
        if (ws.readyState === ws.OPEN) ws.close(1000);
      });
  }

  const server = createServer({ cert, key }, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendStatus(response, statusObject(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`));
      else response.destroy();
    });
  });
  server.on('upgrade', upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    caCert: cert,
    token,
    requests,
    execs,
    kubeconfig: async (path) => {
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: url, 'certificate-authority-data': b64(cert) } }],
        users: [{ name: 'fake', user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
        'current-context': 'fake',
        preferences: {},
      };
      await writeFile(path, stringify(config), { mode: 0o600 });
    },
    pod: (namespace, name) => {
      const pod = stores.get(resourceNamed('pods'))!.get(`${namespace}/${name}`);
      return pod ? (copy(pod) as Pod) : undefined;
    },
    emitPodEvent: (type, pod) => store(resourceNamed('pods'), type, { ...pod, metadata: { namespace: 'default', ...pod.metadata } }) as Pod,
    appendPodLog: (namespace, name, text) => {
      const key = `${namespace}/${name}`;
      const line = { time: Date.now(), text };
      logs.set(key, [...(logs.get(key) ?? []), line]);
      for (const follower of logFollowers.get(key) ?? []) follower(line);
    },
    close: async () => {
      for (const stop of stopActions) stop();
      for (const ws of openSockets) ws.terminate();
      sockets.close();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
