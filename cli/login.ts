/**
 * `warden login`: sign in at a configured OpenID provider, then exchange what it issued for a
 * Warden token. Workloads use client credentials (RFC 6749 §4.4); people use the device
 * authorization grant (RFC 8628), which needs nothing but a browser somewhere.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, postExchange, TOKEN_EXCHANGE, type TokenResponse } from './token.js';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const HTTP_TIMEOUT_MS = 10_000;

interface LoginTarget {
  /** One of identity.issuers; the first one when unset. */
  readonly issuer?: string;
  /** Connections the Warden token may open (default: all). */
  readonly audience: readonly string[];
}

export interface ClientCredentialsLogin extends LoginTarget {
  readonly clientId: string;
  readonly clientSecret: string;
}

export async function loginWithClientCredentials(loaded: LoadedConfig, options: ClientCredentialsLogin): Promise<TokenResponse> {
  const issuer = pickIssuer(loaded, options.issuer);
  const { token_endpoint: tokenEndpoint } = await discover(issuer.issuer);
  const body = await postForm(tokenEndpoint, new URLSearchParams({ grant_type: 'client_credentials', resource: issuer.audience }), {
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`,
  });
  if (typeof body.access_token !== 'string') throw new CliError(`the identity provider refused the client credentials: ${describeError(body)}`, 1);
  return exchange(loaded, body.access_token, ACCESS_TOKEN_TYPE, options.audience);
}

export interface DeviceLogin extends LoginTarget {
  /** The public client to sign in with; default: the issuer's deviceClientId. */
  readonly clientId?: string;
  readonly scope: string;
  /** Where to tell the person what to open and which code to confirm. */
  readonly prompt: (message: string) => void;
}

export async function loginWithDeviceCode(loaded: LoadedConfig, options: DeviceLogin): Promise<TokenResponse> {
  const issuer = pickIssuer(loaded, options.issuer);
  const clientId = options.clientId ?? issuer.deviceClientId;
  if (!clientId) throw new CliError(`no client to sign in with: pass --client-id, or set deviceClientId for ${issuer.issuer} in identity.issuers`, 2);
  const endpoints = await discover(issuer.issuer);
  if (!endpoints.device_authorization_endpoint) throw new CliError(`${issuer.issuer} does not offer the device flow (no device_authorization_endpoint in its discovery document)`, 2);
  const started = await postForm(endpoints.device_authorization_endpoint, new URLSearchParams({ client_id: clientId, scope: options.scope }));
  if (typeof started.device_code !== 'string' || typeof started.user_code !== 'string' || typeof started.verification_uri !== 'string') {
    throw new CliError(`the identity provider refused to start a device sign-in: ${describeError(started)}`, 1);
  }
  options.prompt(
    typeof started.verification_uri_complete === 'string'
      ? `To sign in, open ${started.verification_uri_complete}\nand check that it shows the code ${started.user_code}.`
      : `To sign in, open ${started.verification_uri}\nand enter the code ${started.user_code}.`,
  );
  options.prompt('Waiting for the sign-in to finish in the browser…');
  // RFC 8628 §3.2: poll no faster than `interval` (5 s when absent); §3.5: slow_down adds 5 s.
  let intervalMs = (typeof started.interval === 'number' ? started.interval : 5) * 1000;
  const deadline = Date.now() + (typeof started.expires_in === 'number' ? started.expires_in : 600) * 1000;
  while (Date.now() < deadline) {
    await sleep(intervalMs);
    const polled = await postForm(endpoints.token_endpoint, new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: started.device_code, client_id: clientId }));
    if (typeof polled.id_token === 'string') return exchange(loaded, polled.id_token, ID_TOKEN_TYPE, options.audience);
    switch (polled.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        intervalMs += 5000;
        continue;
      case 'access_denied':
        throw new CliError('the sign-in was declined at the identity provider', 1);
      case 'expired_token':
        break;
      default:
        throw new CliError(`the identity provider ended the sign-in: ${describeError(polled)}`, 1);
    }
    break;
  }
  throw new CliError('the code expired before the sign-in finished; run warden login --device again', 1);
}

/** The configured issuer named `wanted`, or the first one. */
export function pickIssuer(loaded: LoadedConfig, wanted: string | undefined) {
  const issuers = loaded.config.identity.issuers;
  const issuer = wanted === undefined ? issuers[0] : issuers.find((candidate) => candidate.issuer === wanted);
  if (!issuer) throw new CliError(`no identity issuer ${wanted ?? ''} in identity.issuers; configure one first`, 2);
  return issuer;
}

function exchange(loaded: LoadedConfig, subjectToken: string, subjectTokenType: string, audience: readonly string[]): Promise<TokenResponse> {
  const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: subjectTokenType });
  for (const connection of audience) form.append('audience', connection);
  return postExchange(loaded, form);
}

interface DiscoveryDocument {
  readonly token_endpoint: string;
  readonly device_authorization_endpoint?: string;
}

async function discover(issuer: string): Promise<DiscoveryDocument> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    const document = (await (await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })).json()) as Partial<DiscoveryDocument>;
    if (typeof document.token_endpoint !== 'string') throw new Error('no token_endpoint');
    return document as DiscoveryDocument;
  } catch (error) {
    throw new CliError(`cannot read ${url}: ${(error as Error).message}`, 3);
  }
}

async function postForm(url: string, form: URLSearchParams, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch {
    throw new CliError(`cannot reach the identity provider at ${url}`, 3);
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return response.ok || 'error' in body ? body : { error: `HTTP ${response.status}` };
}

function describeError(body: Record<string, unknown>): string {
  return String(body.error_description ?? body.error ?? 'no reason given');
}
