/**
 * How the proxy proves to the control plane that it is the proxy fleet: locally with the key
 * `warden up` shares with its proxy, in AWS with a SigV4 signature made with the task role's
 * credentials, which the HTTP API's IAM authorizer verifies (functions/lib/http.ts checks the role).
 */
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4, type SignatureV4Init } from '@smithy/signature-v4';

export interface ControlPlaneRequest {
  readonly method: 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The headers to send `request` with: its own, plus the proof. */
export type ControlPlaneAuth = (request: ControlPlaneRequest) => Promise<Record<string, string>>;

export function sharedKey(key: string): ControlPlaneAuth {
  return async ({ headers }) => ({ ...headers, authorization: `Bearer ${key}` });
}

export interface SigV4Options {
  readonly region: string;
  /** Static, or a provider that refreshes them (the ECS task role's, from @aws-sdk/credential-provider-node). */
  readonly credentials: SignatureV4Init['credentials'];
}

/** Signs for API Gateway (`execute-api`): the method, path, query, headers and body are all covered. */
export function sigV4({ region, credentials }: SigV4Options): ControlPlaneAuth {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return async ({ method, url, headers, body }) => {
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...headers, host: url.host },
      body,
    });
    // fetch sends Host itself, from the same URL.
    const { host: _host, ...sent } = signed.headers;
    return sent;
  };
}
