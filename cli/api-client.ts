/** Calls to the control plane's user routes, authenticated by the caller's own Warden token. */
import { CliError, controlPlaneUrl } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';

export function tokenFrom(option: string | undefined): string {
  const token = option ?? process.env.WARDEN_TOKEN;
  if (!token) throw new CliError('no Warden token: pass --token, or export WARDEN_TOKEN=$(warden login --device)', 2);
  return token;
}

export async function callUserApi(loaded: LoadedConfig, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<unknown> {
  const url = await controlPlaneUrl(loaded);
  let response: Response;
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'x-warden-client': 'cli', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new CliError(`cannot reach the Warden control plane at ${url}; start it with: npx warden up`, 3);
  }
  const payload = (await response.json().catch(() => ({}))) as { message?: string };
  // A grant policy refused is still a grant record (403 with a body that has an id): the caller shows it.
  if (!response.ok && !('id' in payload)) throw new CliError(payload.message ?? `the control plane answered HTTP ${response.status}`, response.status >= 500 ? 3 : 1);
  return payload;
}
