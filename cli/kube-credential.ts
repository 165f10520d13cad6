/**
 * `warden kube-credential`: the exec credential plugin (client.authentication.k8s.io/v1) that
 * kubectl runs for a kubeconfig from `warden kubeconfig`. It prints one ExecCredential with a
 * Warden token and the token's expiry, so kubectl asks again only when the token runs out.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { decodeJwt } from 'jose';
import { CliError, controlPlaneUrl } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { loginWithClientCredentials, loginWithDeviceCode, pickIssuer } from './login.js';
import type { TokenResponse } from './token.js';

export const EXEC_CREDENTIAL_API = 'client.authentication.k8s.io/v1';
const DEFAULT_TOKEN_ENV = 'WARDEN_TOKEN';
/** A cached token is reused only while it has more than this left, so it cannot expire on its way to the gateway. */
const CACHE_MARGIN_SECONDS = 60;

/** Where the plugin gets its Warden token: an environment variable, or a sign-in of its own. */
export interface CredentialSource {
  readonly tokenEnv?: string;
  readonly clientId?: string;
  readonly clientSecretEnv?: string;
  readonly device?: boolean;
  readonly issuer?: string;
}

export interface ExecCredential {
  readonly apiVersion: typeof EXEC_CREDENTIAL_API;
  readonly kind: 'ExecCredential';
  readonly status: { readonly token: string; readonly expirationTimestamp: string };
}

type Method =
  | { readonly kind: 'environment'; readonly tokenEnv: string }
  | { readonly kind: 'client-credentials'; readonly clientId: string; readonly clientSecretEnv: string }
  | { readonly kind: 'device'; readonly clientId?: string };

/** How `source` gets a token; refuses options that do not go together (exit 2). */
export function credentialMethod(source: CredentialSource): Method {
  const { tokenEnv, clientId, clientSecretEnv, device, issuer } = source;
  if (tokenEnv !== undefined && (device || clientId !== undefined || clientSecretEnv !== undefined || issuer !== undefined)) {
    throw new CliError('--token-env reads a token from the environment; it does not go with --device, --client-id, --client-secret-env or --issuer', 2);
  }
  if (device) {
    if (clientSecretEnv !== undefined) throw new CliError('--device signs a person in with a public client; drop --client-secret-env', 2);
    return { kind: 'device', ...(clientId !== undefined ? { clientId } : {}) };
  }
  if (clientId !== undefined || clientSecretEnv !== undefined) {
    if (clientId === undefined || clientSecretEnv === undefined) throw new CliError('client credentials need both --client-id and --client-secret-env', 2);
    return { kind: 'client-credentials', clientId, clientSecretEnv };
  }
  if (issuer !== undefined) throw new CliError('--issuer chooses where --device or --client-id sign in; add one of them', 2);
  return { kind: 'environment', tokenEnv: tokenEnv ?? DEFAULT_TOKEN_ENV };
}

/** The options that select `source`, as `warden kube-credential` takes them. */
export function credentialArgs(source: CredentialSource): string[] {
  credentialMethod(source);
  return [
    ...(source.tokenEnv !== undefined ? ['--token-env', source.tokenEnv] : []),
    ...(source.clientId !== undefined ? ['--client-id', source.clientId] : []),
    ...(source.clientSecretEnv !== undefined ? ['--client-secret-env', source.clientSecretEnv] : []),
    ...(source.device ? ['--device'] : []),
    ...(source.issuer !== undefined ? ['--issuer', source.issuer] : []),
  ];
}

export async function kubeCredential(loaded: LoadedConfig, connection: string, source: CredentialSource): Promise<ExecCredential> {
  const method = credentialMethod(source);
  const { token, exp } = method.kind === 'environment' ? fromEnvironment(method.tokenEnv, connection) : await signIn(loaded, connection, method, source.issuer);
  return { apiVersion: EXEC_CREDENTIAL_API, kind: 'ExecCredential', status: { token, expirationTimestamp: rfc3339(exp) } };
}

interface Credential {
  readonly token: string;
  /** Seconds since the epoch. */
  readonly exp: number;
}

function fromEnvironment(name: string, connection: string): Credential {
  const fix = `export ${name}=$(warden login --device)`;
  const token = process.env[name];
  if (!token) throw new CliError(`the environment variable ${name} is not set; kubectl passes its environment to this plugin, so run first: ${fix}`, 1);
  const claims = readClaims(token);
  if (!claims) throw new CliError(`${name} does not hold a Warden token (a JWT with exp); ${fix}`, 1);
  if (claims.exp <= now()) throw new CliError(`the Warden token in ${name} expired at ${rfc3339(claims.exp)}; get a new one: ${fix}`, 1);
  // Caught here, the gateway's refusal does not reach the user as kubectl's bare "Unauthorized".
  if (!claims.aud.includes(connection)) {
    throw new CliError(`the Warden token in ${name} may not open ${connection} (it may open: ${claims.aud.join(', ') || 'nothing'}); get one that may: export ${name}=$(warden login --device --audience ${connection})`, 1);
  }
  return { token, exp: claims.exp };
}

/** Signs in once and caches the Warden token, so each kubectl run does not sign in again. */
async function signIn(loaded: LoadedConfig, connection: string, method: Exclude<Method, { kind: 'environment' }>, wantedIssuer: string | undefined): Promise<Credential> {
  const issuer = pickIssuer(loaded, wantedIssuer);
  const target = { issuer: issuer.issuer, audience: [connection] };
  let login: () => Promise<TokenResponse>;
  if (method.kind === 'client-credentials') {
    // Read before the cache is, so a missing secret shows now rather than when the cached token runs out.
    const clientSecret = secretFrom(method.clientSecretEnv);
    login = () => loginWithClientCredentials(loaded, { ...target, clientId: method.clientId, clientSecret });
  } else {
    login = () => loginWithDeviceCode(loaded, { ...target, scope: 'openid groups', prompt: (message) => console.error(message), ...(method.clientId ? { clientId: method.clientId } : {}) });
  }
  const wardenUrl = await controlPlaneUrl(loaded);
  const file = cacheFile([issuer.issuer, method.clientId ?? issuer.deviceClientId ?? '', connection, wardenUrl]);
  const cached = await readCache(file);
  if (cached) return cached;
  const response = await login();
  const claims = readClaims(response.access_token);
  if (!claims) throw new CliError(`the control plane at ${wardenUrl} returned a token that is not a JWT with exp; does --config name the right Warden?`, 1);
  await writeCache(file, response.access_token);
  return { token: response.access_token, exp: claims.exp };
}

function secretFrom(name: string): string {
  const secret = process.env[name];
  if (!secret) throw new CliError(`the environment variable ${name} is not set; export the client secret in it (kubectl passes its environment to this plugin)`, 2);
  return secret;
}

/**
 * $XDG_CACHE_HOME/warden/kube/<key>.json. The key covers the issuer, the client and the
 * connection, and the control plane too: two Wardens (staging, production) behind one identity
 * provider may have connections of the same name, and each must get its own Warden's token.
 */
function cacheFile(parts: readonly string[]): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec: a relative path in the variable is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'warden', 'kube', `${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16)}.json`);
}

async function readCache(file: string): Promise<Credential | undefined> {
  let token: unknown;
  try {
    token = (JSON.parse(await readFile(file, 'utf8')) as { token?: unknown }).token;
  } catch {
    return undefined; // missing or corrupt: sign in again, and the new token replaces it
  }
  if (typeof token !== 'string') return undefined;
  const claims = readClaims(token);
  return claims && claims.exp - now() > CACHE_MARGIN_SECONDS ? { token, exp: claims.exp } : undefined;
}

async function writeCache(file: string, token: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // Written beside it and renamed over it: a kubectl running in parallel never reads half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ token })}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

/** Reads the claims without verifying them: the gateway verifies every token; the plugin only needs to know when it expires. */
function readClaims(token: string): { exp: number; aud: string[] } | undefined {
  try {
    const { exp, aud } = decodeJwt(token);
    if (typeof exp !== 'number') return undefined;
    return { exp, aud: Array.isArray(aud) ? aud : aud === undefined ? [] : [aud] };
  } catch {
    return undefined;
  }
}

function now(): number {
  return Date.now() / 1000;
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}
