/**
 * GET /console and GET /console/{path+} — the web console (web/): index.html for every page
 * path (the app routes on the hash; /console/callback is where OpenID Connect sign-in returns),
 * and its two bundled assets under /console/assets/. GET /v1/console/config — public: how the
 * console signs people in.
 *
 * The console's own data comes from the JSON API with the person's Warden token; these routes
 * serve only code and carry no identity. A strict Content-Security-Policy keeps everything the
 * page runs to these files: no inline script or style, no other origin but the configured
 * identity provider, which the browser calls for discovery and the token endpoint.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { WardenError } from '../core/errors.js';
import type { WardenConfig } from '../core/config.js';
import { consoleAssets } from '../web/build.js';
import { apiHandler, json } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

/** The console's sign-in settings: checked against identity.issuers, so a person is never sent to sign in where Warden will refuse the token. */
export function consoleOidc(config: WardenConfig): { issuer: string; clientId: string; scope: string } | undefined {
  const oidc = config.console.oidc;
  if (!oidc) return undefined;
  const issuer = config.identity.issuers.find((candidate) => candidate.issuer === oidc.issuer);
  if (!issuer) {
    throw new WardenError('CONTROL_PLANE_UNAVAILABLE', `console.oidc.issuer ${oidc.issuer} is not one of identity.issuers, so POST /v1/token would refuse its ID tokens; add it there`);
  }
  if (oidc.clientId !== issuer.audience && oidc.clientId !== issuer.deviceClientId) {
    throw new WardenError(
      'CONTROL_PLANE_UNAVAILABLE',
      `console.oidc.clientId ${oidc.clientId} is neither the audience nor the deviceClientId of issuer ${oidc.issuer}, so POST /v1/token would refuse the ID tokens issued to it`,
    );
  }
  return { issuer: oidc.issuer, clientId: oidc.clientId, scope: oidc.scope };
}

export function contentSecurityPolicy(config: WardenConfig): string {
  const issuer = config.console.oidc?.issuer;
  const connect = ["'self'", ...(issuer ? [new URL(issuer).origin] : [])];
  return [
    "default-src 'none'",
    // asciinema-player's terminal emulator is WebAssembly: 'wasm-unsafe-eval' lets it compile, and allows no JavaScript eval.
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

function securityHeaders(config: WardenConfig): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(config),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

/** Where the console is mounted, from the request path (a named API Gateway stage prefixes it); only plain path characters. */
function basePath(rawPath: string): string {
  const index = rawPath.indexOf('/console');
  const base = index >= 0 ? rawPath.slice(0, index + '/console'.length) : '/console';
  return /^[A-Za-z0-9/_.-]+$/.test(base) ? base : '/console';
}

function notFound(path: string): APIGatewayProxyStructuredResultV2 {
  return json(404, { error: 'NOT_FOUND', message: `no console file ${path}` });
}

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const { config } = getRuntime();
    if (event.routeKey === 'GET /v1/console/config') {
      const oidc = consoleOidc(config);
      return json(200, oidc ? { oidc } : {});
    }
    const path = event.pathParameters?.path ?? '';
    const { indexHtml, assets } = await consoleAssets();
    if (path.startsWith('assets/')) {
      const asset = assets.get(path.slice('assets/'.length));
      if (!asset) return notFound(path);
      const headers = { ...securityHeaders(config), 'content-type': asset.contentType, 'cache-control': 'no-cache', etag: asset.etag };
      if (event.headers['if-none-match'] === asset.etag) return { statusCode: 304, headers };
      return { statusCode: 200, headers, body: asset.body };
    }
    // Every other path is a page of the app (/console, /console/callback…).
    if (path.includes('..') || path.length > 200) return notFound(path);
    return {
      statusCode: 200,
      headers: { ...securityHeaders(config), 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      body: indexHtml.replaceAll('__BASE__', basePath(event.rawPath)),
    };
  });
