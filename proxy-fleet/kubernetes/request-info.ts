/**
 * Kubernetes API requests described by the attributes the API server hands its authorizers (the
 * "request attributes" of the Kubernetes authorization overview): verb, API group, version,
 * resource, subresource, namespace and name, or a non-resource path. Warden authorizes and records
 * on these, so they must be the ones the API server will act on. The derivation follows the API
 * server's own rules; anything a proxy and the API server could read differently (dot segments,
 * encoded slashes, empty segments, percent-encoded path segments, `;` in the query, names Kubernetes
 * would never accept) is refused instead of guessed at.
 */

export type KubernetesRequestErrorCode =
  | 'INVALID_METHOD'
  | 'UNSUPPORTED_METHOD'
  | 'INVALID_URL'
  | 'PATH_TOO_LONG'
  | 'NUL_BYTE'
  | 'INVALID_CHARACTER'
  | 'INVALID_ENCODING'
  | 'ENCODED_SLASH'
  | 'ENCODED_CHARACTER'
  | 'DOT_SEGMENT'
  | 'EMPTY_SEGMENT'
  | 'QUERY_SEMICOLON'
  | 'MISSING_RESOURCE'
  | 'INVALID_SEGMENT'
  | 'INVALID_NAMESPACE'
  | 'INVALID_NAME';

export class KubernetesRequestError extends Error {
  override readonly name = 'KubernetesRequestError';
  constructor(
    readonly code: KubernetesRequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface KubernetesRequest {
  /** False for /version, /api, /apis discovery, /openapi, /healthz and other non-resource URLs. */
  readonly resourceRequest: boolean;
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy; the lower-case HTTP method for non-resource requests. */
  readonly verb: string;
  /** '' for the core group. */
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly resource: string;
  /** log, exec, attach, portforward, status, scale, proxy … or ''. */
  readonly subresource: string;
  /** '' when cluster-scoped or not namespaced. For namespaces/{name} it is {name}, as the API server sets it. */
  readonly namespace: string;
  /** For proxy requests the API server's whole `[scheme:]name[:port]` id. */
  readonly name: string;
  /** The request path as received, without the query. */
  readonly path: string;
}

export const MAX_PATH_BYTES = 8 * 1024;

const API_PREFIXES: ReadonlySet<string> = new Set(['api', 'apis']);
/** Path-prefix verbs: /api/v1/watch/… and the legacy /api/v1/proxy/…; proxy takes no subresource. */
const SPECIAL_VERBS: ReadonlySet<string> = new Set(['proxy', 'watch']);
/** namespaces/{ns}/status and …/finalize are the namespace's own subresources, not namespaced resources. */
const NAMESPACE_SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'finalize']);
const METHOD_VERBS: ReadonlyMap<string, string> = new Map([
  ['POST', 'create'],
  ['GET', 'get'],
  ['HEAD', 'get'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
]);
/**
 * Groups whose object names are only required to be valid path segments, not DNS subdomains:
 * RBAC (system:controller:…, system::…) and certificates (CSRs, ClusterTrustBundles with `:`).
 */
const PATH_SEGMENT_NAME_GROUPS: ReadonlySet<string> = new Set(['rbac.authorization.k8s.io', 'certificates.k8s.io']);

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PATH_SEGMENT_NAME = /^[!-[\]-~]+$/; // printable ASCII without the backslash
const INT64 = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: KubernetesRequestErrorCode, message: string): never {
  throw new KubernetesRequestError(code, message);
}

function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/** The apiserver's check on a name taken from a field selector (path.IsValidPathSegmentName). */
function isValidPathSegmentName(value: string): boolean {
  return value !== '.' && value !== '..' && !value.includes('/') && !value.includes('%');
}

/**
 * Splits path from query at the first `?` and refuses characters an HTTP request target cannot
 * carry as-is. `#` is refused rather than read as a fragment: Go's server keeps it in the path.
 */
function splitUrl(url: string): { rawPath: string; rawQuery: string } {
  const mark = url.indexOf('?');
  const rawPath = mark < 0 ? url : url.slice(0, mark);
  const rawQuery = mark < 0 ? '' : url.slice(mark + 1);
  if (Buffer.byteLength(rawPath, 'utf8') > MAX_PATH_BYTES) fail('PATH_TOO_LONG', `request path is longer than ${MAX_PATH_BYTES} bytes`);
  if (!rawPath.startsWith('/')) fail('INVALID_URL', 'request target must be an absolute path');
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0) fail('NUL_BYTE', 'request target contains a NUL byte');
    if (c < 0x21 || c > 0x7e || c === 0x23) fail('INVALID_CHARACTER', `request target contains character 0x${c.toString(16)}`);
  }
  return { rawPath, rawQuery };
}

/** Percent-decodes (and, in a query, turns `+` into a space) the way Go's net/url does, refusing what it would refuse. */
function percentDecode(raw: string, plusIsSpace: boolean): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail('INVALID_ENCODING', `invalid percent-encoding in ${JSON.stringify(raw)}`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      bytes.push(0x20);
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes);
}

function decodeText(bytes: Buffer, where: string): string {
  if (bytes.includes(0)) fail('NUL_BYTE', `${where} contains an encoded NUL byte`);
  try {
    return utf8.decode(bytes);
  } catch {
    return fail('INVALID_ENCODING', `${where} is not valid UTF-8`);
  }
}

/** Path segments after Go's decoding of the path, with every segment that could be read two ways refused. */
function pathSegments(rawPath: string): { raw: string[]; decoded: string[] } {
  const body = rawPath.slice(1);
  if (body === '') return { raw: [], decoded: [] };
  const raw = body.split('/');
  // The apiserver trims surrounding slashes, so one trailing slash names the same thing.
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const decoded = raw.map((segment) => {
    if (segment === '') fail('EMPTY_SEGMENT', 'request path contains an empty segment');
    if (segment === '.' || segment === '..') fail('DOT_SEGMENT', 'request path contains a dot segment');
    if (!segment.includes('%')) return segment;
    const bytes = percentDecode(segment, false);
    if (bytes.includes(0x2f)) fail('ENCODED_SLASH', 'request path contains an encoded slash');
    const text = decodeText(bytes, 'request path');
    if (/[\u0001-\u001f\u007f]/.test(text)) fail('INVALID_CHARACTER', 'request path contains an encoded control character');
    if (text === '.' || text === '..') fail('DOT_SEGMENT', 'request path contains an encoded dot segment');
    return text;
  });
  return { raw, decoded };
}

/**
 * The query as Go's url.Values sees it. Go drops pairs holding `;` or a bad escape, and Go releases
 * before 1.17 split on `;`: such queries mean different things to different servers, so they are
 * refused instead.
 */
function parseQuery(rawQuery: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  if (rawQuery === '') return values;
  for (const pair of rawQuery.split('&')) {
    if (pair.includes(';')) fail('QUERY_SEMICOLON', 'query contains a semicolon');
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeText(percentDecode(eq < 0 ? pair : pair.slice(0, eq), true), 'query');
    const value = eq < 0 ? '' : decodeText(percentDecode(pair.slice(eq + 1), true), 'query');
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return values;
}

function first(query: ReadonlyMap<string, readonly string[]>, key: string): string | undefined {
  return query.get(key)?.[0];
}

/** Go's conversion of a query value to bool: only "false" and "0" (any case) are false. */
function queryBool(query: ReadonlyMap<string, readonly string[]>, key: string): boolean {
  const value = first(query, key);
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  return lower !== 'false' && lower !== '0';
}

function isInt64(value: string): boolean {
  if (!INT64.test(value)) return false;
  const n = BigInt(value);
  return n >= INT64_MIN && n <= INT64_MAX;
}

/** Splits a field selector into terms at unescaped commas, keeping the escapes (fields.splitTerms). */
function selectorTerms(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

function unescapeSelectorValue(value: string): string | undefined {
  let out = '';
  let escaped = false;
  for (const c of value) {
    if (escaped) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      escaped = false;
    } else if (c === '\\') escaped = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return escaped ? undefined : out;
}

/**
 * The exact metadata.name a field selector requires, as fields.ParseSelector and RequiresExactMatch
 * find it: terms sorted bytewise, the first `metadata.name=` or `==` term wins. `null` when the
 * selector does not parse (the apiserver then ignores it), undefined when it names no object.
 */
function selectorName(selector: string): string | undefined | null {
  const terms = selectorTerms(selector).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  let name: string | undefined;
  for (const term of terms) {
    if (term === '') continue;
    const match = /!=|==|=/.exec(term);
    if (!match) return null;
    const value = unescapeSelectorValue(term.slice(match.index + match[0].length));
    if (value === undefined) return null;
    if (name === undefined && match[0] !== '!=' && term.slice(0, match.index) === 'metadata.name') name = value;
  }
  return name;
}

/**
 * The object a name-less GET narrows to through `fieldSelector=metadata.name=…`, as the apiserver
 * finds it. It only does so when all of its list options decode; of those, the selector and the
 * integer options can fail (the label selector is not checked here).
 */
function fieldSelectorName(query: ReadonlyMap<string, readonly string[]>): string {
  for (const key of ['limit', 'timeoutSeconds']) {
    const value = first(query, key);
    if (value !== undefined && !isInt64(value)) return '';
  }
  const selector = first(query, 'fieldSelector');
  if (selector === undefined) return '';
  const name = selectorName(selector);
  return typeof name === 'string' && isValidPathSegmentName(name) ? name : '';
}

/** `[scheme:]name[:port]` as the API server splits a proxy target (SplitSchemeNamePort). */
function isProxyTarget(id: string): boolean {
  const parts = id.split(':');
  let scheme = '';
  let host: string;
  let port = '';
  if (parts.length === 1) host = parts[0]!;
  else if (parts.length === 2) [host, port] = parts as [string, string];
  else if (parts.length === 3) [scheme, host, port] = parts as [string, string, string];
  else return false;
  if (scheme !== '' && scheme !== 'http' && scheme !== 'https') return false;
  return isDnsSubdomain(host) && (port === '' || /^[0-9]{1,5}$/.test(port) || isDnsLabel(port));
}

function checkName(name: string, resource: string, apiGroup: string, proxied: boolean): void {
  let valid: boolean;
  if (proxied) valid = isProxyTarget(name);
  else if (apiGroup === '' && resource === 'namespaces') valid = isDnsLabel(name);
  else if (PATH_SEGMENT_NAME_GROUPS.has(apiGroup)) valid = isValidPathSegmentName(name) && PATH_SEGMENT_NAME.test(name);
  else valid = isDnsSubdomain(name);
  if (!valid) fail('INVALID_NAME', `${JSON.stringify(name)} is not a valid ${resource} name`);
}

/** Describes one request to the Kubernetes API. `url` is the request target: path and query. */
export function describeRequest(method: string, url: string): KubernetesRequest {
  if (!HTTP_TOKEN.test(method)) fail('INVALID_METHOD', 'request method is not an HTTP token');
  const { rawPath, rawQuery } = splitUrl(url);
  const { raw, decoded: parts } = pathSegments(rawPath);
  const query = parseQuery(rawQuery);

  // Segments the API server interprets must be spelled plainly; only a proxy's forwarded tail may carry escapes.
  const requirePlain = (end: number): void => {
    for (let i = 0; i < end && i < raw.length; i++) {
      if (raw[i] !== parts[i]) fail('ENCODED_CHARACTER', `percent-encoding in path segment ${JSON.stringify(raw[i])}`);
    }
  };

  const prefix = parts[0];
  const grouped = prefix === 'apis';
  if (prefix === undefined || !API_PREFIXES.has(prefix) || parts.length < (grouped ? 4 : 3)) {
    requirePlain(parts.length);
    return {
      resourceRequest: false,
      verb: method.toLowerCase(),
      apiGroup: '',
      apiVersion: '',
      resource: '',
      subresource: '',
      namespace: '',
      name: '',
      path: rawPath,
    };
  }

  let i = 1;
  const apiGroup = grouped ? parts[i++]! : '';
  const apiVersion = parts[i++]!;
  let verb: string;
  const pathVerb = parts[i]!;
  if (SPECIAL_VERBS.has(pathVerb)) {
    if (parts.length - i < 2) fail('MISSING_RESOURCE', `${pathVerb} needs a resource`);
    verb = pathVerb;
    i++;
  } else {
    verb = METHOD_VERBS.get(method) ?? fail('UNSUPPORTED_METHOD', `${method} is not a Kubernetes API method`);
  }

  let namespace = '';
  if (parts[i] === 'namespaces' && parts.length - i > 1) {
    namespace = parts[i + 1]!;
    if (parts.length - i > 2 && !NAMESPACE_SUBRESOURCES.has(parts[i + 2]!)) i += 2;
  }
  // From here: resource/name/subresource/further parts the API server does not interpret.
  const resource = parts[i]!;
  let name = parts[i + 1] ?? '';
  const subresource = verb !== 'proxy' ? (parts[i + 2] ?? '') : '';
  const proxied = verb === 'proxy' || subresource === 'proxy';
  requirePlain(verb === 'proxy' ? i + 2 : subresource === 'proxy' ? i + 3 : parts.length);

  if (grouped && !isDnsSubdomain(apiGroup)) fail('INVALID_SEGMENT', `${JSON.stringify(apiGroup)} is not an API group`);
  if (!isDnsLabel(apiVersion)) fail('INVALID_SEGMENT', `${JSON.stringify(apiVersion)} is not an API version`);
  if (!isDnsLabel(resource)) fail('INVALID_SEGMENT', `${JSON.stringify(resource)} is not a resource`);
  if (subresource !== '' && !isDnsLabel(subresource)) fail('INVALID_SEGMENT', `${JSON.stringify(subresource)} is not a subresource`);
  if (namespace !== '' && !isDnsLabel(namespace)) fail('INVALID_NAMESPACE', `${JSON.stringify(namespace)} is not a valid namespace`);
  if (name !== '') checkName(name, resource, apiGroup, proxied);

  if (name === '' && verb === 'get') {
    verb = queryBool(query, 'watch') ? 'watch' : 'list';
    name = fieldSelectorName(query);
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';

  return { resourceRequest: true, verb, apiGroup, apiVersion, resource, subresource, namespace, name, path: rawPath };
}

/** The `command` query values of an exec request, in order, as the API server passes them on. */
export function execCommand(url: string): string[] {
  const { rawQuery } = splitUrl(url);
  return [...(parseQuery(rawQuery).get('command') ?? [])];
}
