/**
 * Serves the Lambda handlers over local HTTP: each request becomes an API Gateway HTTP API
 * (payload format 2.0) event and goes to the very `handler` a Lambda would run. `invokeLocal`
 * does the same for a request that comes from inside the process (warden up's own proxies),
 * without the socket and HTTP parsing in between.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { routes, type Route } from '../routes.js';

const MAX_BODY_BYTES = 1_048_576;
const DRAIN_BYTES = 8 * 1_048_576;

export interface LocalApi {
  readonly url: string;
  close(): Promise<void>;
}

export async function startLocalApi(options: { host: string; port: number }): Promise<LocalApi> {
  const server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      console.error(JSON.stringify({ level: 'ERROR', message: 'local API adapter failed', error: String(error) }));
      if (!response.headersSent) reply(response, 500, { error: 'CONTROL_PLANE_UNAVAILABLE', message: 'internal error in the local API adapter' });
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export interface LocalRequest {
  readonly method: string;
  /** The path and query string. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly sourceIp?: string;
  readonly httpVersion?: string;
}

export interface LocalResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  if (body === undefined) {
    // The body was dropped, or not read to its end, so this connection carries no further request.
    response.setHeader('connection', 'close');
    reply(response, 413, { error: 'INVALID_REQUEST', message: `request body over ${MAX_BODY_BYTES} bytes` });
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const result = await invokeLocal({
    method: request.method ?? 'GET',
    url: request.url ?? '/',
    headers,
    body: body.toString('utf8'),
    sourceIp: request.socket.remoteAddress ?? '',
    httpVersion: request.httpVersion,
  });
  response.writeHead(result.status, result.headers);
  response.end(result.body);
}

/** Routes one request to its handler and returns the handler's answer, as the HTTP server would send it. */
export async function invokeLocal(request: LocalRequest): Promise<LocalResponse> {
  const url = new URL(request.url, 'http://local');
  let matched: ReturnType<typeof match>;
  try {
    matched = match(request.method, url.pathname);
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
    return jsonResponse(400, { error: 'INVALID_REQUEST', message: 'the path has malformed percent-encoding (a "%" not followed by two hex digits of valid UTF-8)' });
  }
  if (!matched) return jsonResponse(404, { error: 'NOT_FOUND', message: `no route ${request.method} ${url.pathname}` });
  if (Buffer.byteLength(request.body) > MAX_BODY_BYTES) return jsonResponse(413, { error: 'INVALID_REQUEST', message: `request body over ${MAX_BODY_BYTES} bytes` });
  const { handler } = await load(matched.route);
  const event = toEvent(request, url, matched.route, matched.parameters);
  const result = (await handler(event, lambdaContext(), () => undefined)) as APIGatewayProxyStructuredResultV2;
  return { status: result.statusCode ?? 200, headers: (result.headers ?? {}) as Record<string, string>, body: result.body ?? '' };
}

const loaded = new Map<Route, ReturnType<Route['load']>>();

/** Each route's module once: a dynamic import per request would ask the module loader (and its hooks) every time. */
function load(route: Route): ReturnType<Route['load']> {
  let module = loaded.get(route);
  if (!module) {
    module = route.load();
    loaded.set(route, module);
    module.catch(() => loaded.delete(route));
  }
  return module;
}

function match(method: string, path: string): { route: Route; parameters: Record<string, string> } | undefined {
  const parts = path.split('/');
  for (const route of routes) {
    const pattern = route.path.split('/');
    // A greedy last parameter ({name+}, as API Gateway has it) takes the rest of the path, one segment or more.
    const greedy = pattern.at(-1)?.endsWith('+}') === true;
    if (route.method !== method || (greedy ? parts.length < pattern.length : pattern.length !== parts.length)) continue;
    const parameters: Record<string, string> = {};
    const ok = pattern.every((segment, i) => {
      const part = parts[i]!;
      if (greedy && i === pattern.length - 1) {
        const rest = parts.slice(i).join('/');
        parameters[segment.slice(1, -2)] = decodeURIComponent(rest);
        return rest.length > 0;
      }
      if (segment.startsWith('{') && segment.endsWith('}')) {
        parameters[segment.slice(1, -1)] = decodeURIComponent(part);
        return part.length > 0;
      }
      return segment === part;
    });
    if (ok) return { route, parameters };
  }
  return undefined;
}

/**
 * The body, or undefined when it is over MAX_BODY_BYTES. Past the limit the rest is read and
 * dropped, up to DRAIN_BYTES more, so that the 413 goes out on a connection closed cleanly: one
 * closed with unread bytes is reset, and the client may lose the answer. Beyond that the
 * connection is dropped.
 */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES + DRAIN_BYTES) return undefined;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

function toEvent(request: LocalRequest, url: URL, route: Route, pathParameters: Record<string, string>): APIGatewayProxyEventV2 {
  const { headers } = request;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
    pathParameters,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion ?? '1.1'}`,
        sourceIp: request.sourceIp ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: `${route.method} ${route.path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    body: request.body,
    isBase64Encoded: false,
  };
}

function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'warden-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:warden-local',
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function jsonResponse(status: number, body: unknown): LocalResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const { headers, body: text } = jsonResponse(status, body);
  response.writeHead(status, headers);
  response.end(text);
}
