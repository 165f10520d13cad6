/** `warden token --as NAME`: mint a development identity token and exchange it for a Warden token. */
import { DevIssuer } from '../functions/lib/dev-issuer.js';
import { loadOrCreateEcKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import { CliError, controlPlaneUrl } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';

export interface TokenOptions {
  readonly as: string;
  readonly groups: readonly string[];
  readonly audience: readonly string[];
}

export interface TokenResponse {
  readonly access_token: string;
  readonly issued_token_type: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope: string;
}

export async function requestToken(loaded: LoadedConfig, options: TokenOptions): Promise<TokenResponse> {
  if (!loaded.config.identity.devIssuer) {
    throw new CliError('the development issuer is disabled (identity.devIssuer: false); get a token from your identity provider', 2);
  }
  const issuer = new DevIssuer(await loadOrCreateEcKey(statePaths(loaded.stateDir).devIssuerKey));
  const subjectToken = await issuer.mint({ sub: options.as, groups: options.groups });
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
  });
  for (const audience of options.audience) form.append('audience', audience);
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
