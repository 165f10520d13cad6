/** `warden token --as NAME`: mint a development identity token and exchange it for a Warden token. */
import { decodeJwt } from 'jose';
import { DevIssuer } from '../functions/lib/dev-issuer.js';
import { loadOrCreateEcKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import { CliError, controlPlaneUrl } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export interface TokenOptions {
  readonly as: string;
  readonly groups: readonly string[];
  readonly audience: readonly string[];
  /** Why: carried in the token and shown to approvers. */
  readonly why?: string;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly issued_token_type: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope: string;
}

export async function requestToken(loaded: LoadedConfig, options: TokenOptions): Promise<TokenResponse> {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: await mintIdentity(loaded, options.as, options.groups),
    subject_token_type: ID_TOKEN_TYPE,
  });
  for (const audience of options.audience) form.append('audience', audience);
  if (options.why) form.set('justification', options.why);
  return postExchange(loaded, form);
}

export interface ExchangeOptions {
  /** The parent Warden token. */
  readonly token: string;
  /** The agent that will act with the child token. */
  readonly as: string;
  readonly audience: readonly string[];
  readonly scope?: string;
  /** Why the child exists; default: the parent's. */
  readonly why?: string;
}

/** A child token for an agent started by the holder of `token` (RFC 8693 delegation). */
export async function exchangeForAgent(loaded: LoadedConfig, options: ExchangeOptions): Promise<TokenResponse> {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: options.token,
    subject_token_type: JWT_TOKEN_TYPE,
    actor_token: await mintIdentity(loaded, options.as, []),
    actor_token_type: ID_TOKEN_TYPE,
  });
  for (const audience of options.audience) form.append('audience', audience);
  if (options.scope) form.set('scope', options.scope);
  if (options.why) form.set('justification', options.why);
  return postExchange(loaded, form);
}

async function mintIdentity(loaded: LoadedConfig, sub: string, groups: readonly string[]): Promise<string> {
  if (!loaded.config.identity.devIssuer) {
    throw new CliError('the development issuer is disabled (identity.devIssuer: false); get a token from your identity provider', 2);
  }
  const issuer = new DevIssuer(await loadOrCreateEcKey(statePaths(loaded.stateDir).devIssuerKey));
  return issuer.mint({ sub, groups });
}

export async function postExchange(loaded: LoadedConfig, form: URLSearchParams): Promise<TokenResponse> {
  const url = await controlPlaneUrl(loaded);
  let response: Response;
  try {
    response = await fetch(`${url}/v1/token`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new CliError(`cannot reach the Warden control plane at ${url}; start it with: npx warden up`, 3);
  }
  const body = (await response.json().catch(() => ({}))) as Partial<TokenResponse> & { error?: string; error_description?: string };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new CliError(`the token exchange was refused: ${body.error_description ?? body.error ?? `HTTP ${response.status}`}`, 1);
  }
  return body as TokenResponse;
}

export interface TokenDescription {
  readonly sub: string;
  /** The agents acting for `sub`, in the order they joined the chain. */
  readonly actors: readonly string[];
  readonly chain: string;
  readonly groups: readonly string[];
  readonly aud: readonly string[];
  readonly scope: string;
  readonly expiresAt: string;
}

/** Reads a token's claims without verifying it: the control plane verifies whenever the token is used. */
export function describeToken(token: string): TokenDescription {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new CliError('that is not a Warden token (expected a JWT)', 2);
  }
  const actors: string[] = [];
  for (let act = claims.act as { sub?: unknown; act?: unknown } | undefined; act && typeof act.sub === 'string'; act = act.act as typeof act) actors.unshift(act.sub);
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : []);
  return {
    sub: String(claims.sub),
    actors,
    chain: String(claims.chain),
    groups: list(claims.groups),
    aud: list(claims.aud),
    scope: String(claims.scope ?? ''),
    expiresAt: new Date(Number(claims.exp) * 1000).toISOString(),
  };
}
