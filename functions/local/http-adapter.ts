/**
 * Serves the Lambda handlers over local HTTP: each request becomes an API Gateway HTTP API
 * (payload format 2.0) event and goes to the very `handler` a Lambda would run.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { routes, type Route } from '../routes.js';

const MAX_BODY_BYTES = 1_048_576;

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

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://local');
  const matched = match(request.method ?? 'GET', url.pathname);
  if (!matched) {
    reply(response, 404, { error: 'NOT_FOUND', message: `no route ${request.method} ${url.pathname}` });
    return;
  }
  const body = await readBody(request);
  if (body === undefined) {
    reply(response, 413, { error: 'INVALID_REQUEST', message: `request body over ${MAX_BODY_BYTES} bytes` });
    return;
  }
  const { handler } = await load(matched.route);
  const event = toEvent(request, url, matched.route, matched.parameters, body);
  const result = (await handler(event, lambdaContext(), () => undefined)) as APIGatewayProxyStructuredResultV2;
  response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
  response.end(result.body ?? '');
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

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function toEvent(request: IncomingMessage, url: URL, route: Route, pathParameters: Record<string, string>, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
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
      domainName: request.headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '',
        userAgent: request.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: `${route.method} ${route.path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    body: body.toString('utf8'),
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

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
