/**
 * Who is signed in to the console: a Warden token kept in sessionStorage (this tab only, gone
 * when it closes). It comes either from a person pasting one (development: `warden token`), or
 * from OpenID Connect: authorization code with PKCE (S256) as a public client, whose ID token
 * the control plane exchanges (RFC 8693, POST /v1/token) for a Warden token.
 */

const TOKEN_KEY = 'warden.console.token';
const PENDING_KEY = 'warden.console.oidc';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/** Where the console is mounted (`…/console`), from the page's own address. */
export function consoleBase(): string {
  const match = /^(.*?\/console)(?:\/.*)?$/.exec(location.pathname);
  return match ? match[1]! : '/console';
}

/** The control plane's API root: what precedes `/console`. */
export function apiBase(): string {
  return consoleBase().slice(0, -'/console'.length);
}

export function callbackUrl(): string {
  return `${location.origin}${consoleBase()}/callback`;
}

export function getToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export interface TokenClaims {
  sub?: string;
  exp?: number;
  iss?: string;
  aud?: string | string[];
  nonce?: string;
  groups?: string[];
}

/** The claims of a JWT, read without verifying it: for display and the nonce check only; the control plane verifies. */
export function claimsOf(token: string): TokenClaims | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const text = new TextDecoder().decode(base64UrlDecode(payload));
    const claims = JSON.parse(text) as unknown;
    return typeof claims === 'object' && claims !== null ? (claims as TokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

/** Checks a pasted token looks like a JWT that has not expired, so a typo fails here and not on the first call. */
export function checkPastedToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return 'that is not a Warden token (a JWT: three base64url parts separated by dots)';
  const claims = claimsOf(token);
  if (!claims) return 'that token cannot be read';
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return `that token expired at ${new Date(claims.exp * 1000).toISOString()}; make a new one`;
  return undefined;
}

function base64UrlDecode(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function base64UrlEncode(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(): string {
  return base64UrlEncode(crypto.getRandomValues(new Uint8Array(32)));
}

export interface OidcSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
}

interface PendingSignIn {
  readonly issuer: string;
  readonly clientId: string;
  readonly tokenEndpoint: string;
  readonly redirectUri: string;
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
  readonly returnTo: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let document: Partial<Discovery>;
  try {
    const response = await fetch(url, { credentials: 'omit' });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    document = (await response.json()) as Partial<Discovery>;
  } catch (error) {
    throw new Error(`cannot read the identity provider's discovery document ${url}: ${(error as Error).message}`);
  }
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (document.issuer !== issuer) throw new Error(`the discovery document at ${url} names the issuer ${String(document.issuer)}, not ${issuer}`);
  if (typeof document.authorization_endpoint !== 'string' || typeof document.token_endpoint !== 'string') throw new Error(`the discovery document at ${url} lacks authorization_endpoint or token_endpoint`);
  return document as Discovery;
}

/** Sends the browser to the provider's authorization endpoint; it comes back to /console/callback. */
export async function startOidcSignIn(settings: OidcSettings, returnTo: string): Promise<void> {
  const discovery = await discover(settings.issuer);
  const verifier = randomString();
  const challenge = base64UrlEncode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const pending: PendingSignIn = {
    issuer: settings.issuer,
    clientId: settings.clientId,
    tokenEndpoint: discovery.token_endpoint,
    redirectUri: callbackUrl(),
    verifier,
    state: randomString(),
    nonce: randomString(),
    returnTo,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: pending.redirectUri,
    scope: settings.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/**
 * On /console/callback: checks the state, redeems the code with the PKCE verifier, checks the
 * ID token's nonce, and exchanges the ID token for a Warden token. Returns where to go next.
 */
export async function finishOidcSignIn(search: URLSearchParams): Promise<string> {
  const saved = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!saved) throw new Error('no sign-in was started in this tab; start again');
  const pending = JSON.parse(saved) as PendingSignIn;
  if (search.get('state') !== pending.state) throw new Error('the sign-in answer does not belong to the sign-in this tab started (state mismatch); start again');
  const failure = search.get('error');
  if (failure) throw new Error(`the identity provider refused the sign-in: ${failure}${search.get('error_description') ? `: ${search.get('error_description')}` : ''}`);
  const code = search.get('code');
  if (!code) throw new Error('the identity provider returned no authorization code');

  const tokenResponse = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    credentials: 'omit',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: pending.redirectUri, client_id: pending.clientId, code_verifier: pending.verifier }),
  });
  const tokens = (await tokenResponse.json().catch(() => ({}))) as { id_token?: string; error?: string; error_description?: string };
  if (!tokenResponse.ok || !tokens.id_token) throw new Error(`the identity provider's token endpoint refused the code: ${tokens.error ?? tokenResponse.status}${tokens.error_description ? `: ${tokens.error_description}` : ''}`);
  const claims = claimsOf(tokens.id_token);
  if (claims?.nonce !== pending.nonce) throw new Error('the ID token does not carry the nonce of this sign-in; start again');
  if (claims.iss !== pending.issuer) throw new Error(`the ID token comes from ${String(claims.iss)}, not ${pending.issuer}`);

  const exchange = await fetch(`${apiBase()}/v1/token`, {
    method: 'POST',
    credentials: 'omit',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: tokens.id_token, subject_token_type: ID_TOKEN_TYPE }),
  });
  const warden = (await exchange.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!exchange.ok || !warden.access_token) throw new Error(`Warden refused the ID token: ${warden.error_description ?? warden.error ?? exchange.status}`);
  setToken(warden.access_token);
  return pending.returnTo;
}
