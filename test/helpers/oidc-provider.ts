/**
 * A real OpenID provider (oidc-provider) on loopback for tests: client-credentials clients
 * get JWT access tokens for the resource `urn:warden`, signed with a key the test also holds,
 * so it can forge the bad tokens a gateway must refuse.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Provider from 'oidc-provider';

export const WARDEN_RESOURCE = 'urn:warden';

export interface TestOidcProvider {
  readonly issuer: string;
  readonly signingKey: CryptoKey;
  readonly kid: string;
  clientCredentialsToken(clientId: string): Promise<string>;
  close(): Promise<void>;
}

export async function startOidcProvider(clients: readonly { id: string; secret: string; groups: string[] }[]): Promise<TestOidcProvider> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'test-key-1';
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
  // The issuer must be known before listening: take a free port first.
  const probe = (await import('node:net')).createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const issuer = `http://127.0.0.1:${port}`;
  const groupsOf = new Map(clients.map((client) => [client.id, client.groups]));
  const provider = new Provider(issuer, {
    clients: clients.map((client) => ({
      client_id: client.id,
      client_secret: client.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    })),
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => WARDEN_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'connect', audience: WARDEN_RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      },
    },
    jwks: { keys: [jwk] },
    extraTokenClaims: (_ctx, token) => ({ groups: groupsOf.get(String((token as { clientId?: string }).clientId)) ?? [] }),
  });
  const server = provider.listen(port);
  await once(server, 'listening');
  const secrets = new Map(clients.map((client) => [client.id, client.secret]));
  return {
    issuer,
    signingKey: privateKey,
    kid,
    clientCredentialsToken: async (clientId) => {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secrets.get(clientId)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=connect',
      });
      const body = (await response.json()) as { access_token?: string; error?: string };
      if (!body.access_token) throw new Error(`the provider refused: ${body.error}`);
      return body.access_token;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
