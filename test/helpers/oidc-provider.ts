/**
 * A real OpenID provider (oidc-provider) on loopback for tests: client-credentials clients
 * get JWT access tokens for the resource `urn:warden`, signed with a key the test also holds,
 * so it can forge the bad tokens a gateway must refuse. People sign in through the device
 * flow (RFC 8628) of the public client `warden-cli`, or in a browser with the authorization code
 * flow and PKCE of a `browserClients` entry (the development login form: any password), and get
 * ID tokens with their groups.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Provider, { type ClientMetadata } from 'oidc-provider';

export const WARDEN_RESOURCE = 'urn:warden';
export const DEVICE_CLIENT_ID = 'warden-cli';

export interface TestOidcProvider {
  readonly issuer: string;
  readonly signingKey: CryptoKey;
  readonly kid: string;
  clientCredentialsToken(clientId: string): Promise<string>;
  /** How many requests the token endpoint has had: a test can tell whether a client signed in. */
  tokenRequests(): number;
  /**
   * Plays the person at the browser: opens the verification URL the CLI printed, confirms the
   * code, signs in as `account` (the development login form) and consents, or aborts.
   */
  completeDeviceSignIn(verificationUri: string, account: string, choice?: 'approve' | 'abort'): Promise<void>;
  close(): Promise<void>;
}

/** A public client that signs people in with the authorization code flow and PKCE (the web console). */
export interface BrowserClient {
  readonly id: string;
  readonly redirectUris: readonly string[];
}

export async function startOidcProvider(
  clients: readonly { id: string; secret: string; groups: string[] }[],
  people: readonly { account: string; groups: string[] }[] = [],
  options: { browserClients?: readonly BrowserClient[] } = {},
): Promise<TestOidcProvider> {
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
  const groupsOfPerson = new Map(people.map((person) => [person.account, person.groups]));
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: DEVICE_CLIENT_ID,
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'none',
        id_token_signed_response_alg: 'ES256',
      },
      ...(options.browserClients ?? []).map((client): ClientMetadata => ({
        client_id: client.id,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [...client.redirectUris],
        token_endpoint_auth_method: 'none',
        id_token_signed_response_alg: 'ES256',
      })),
      ...clients.map((client): ClientMetadata => ({
      client_id: client.id,
      client_secret: client.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      })),
    ],
    claims: { openid: ['sub'], groups: ['groups'] },
    ttl: { AccessToken: 600, ClientCredentials: 600, DeviceCode: 300, Grant: 600, IdToken: 600, Interaction: 300, Session: 600 },
    // Scope-requested claims (groups) go into the ID token, as most enterprise IdPs do.
    conformIdTokenClaims: false,
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId, groups: groupsOfPerson.get(accountId) ?? [] }) }),
    features: {
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      devInteractions: { enabled: true },
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
  let tokenRequests = 0;
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/token') tokenRequests++;
    await next();
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
    tokenRequests: () => tokenRequests,
    completeDeviceSignIn: (verificationUri, account, choice = 'approve') => actAsBrowser(verificationUri, account, choice),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A minimal browser for the provider's own HTML pages: keeps cookies, follows redirects,
 * auto-submits form_post pages, and submits each form it meets with the fields a person
 * would fill in, until the provider says the device is signed in.
 */
async function actAsBrowser(startUrl: string, account: string, choice: 'approve' | 'abort'): Promise<void> {
  const cookies = new Map<string, string>();
  const request = async (url: string, form?: URLSearchParams): Promise<{ url: string; html: string }> => {
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(url, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(form ? { body: form } : {}),
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const [name, ...value] = pair!.split('=');
        cookies.set(name!.trim(), value.join('='));
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url).href;
        form = undefined;
        continue;
      }
      return { url, html: await response.text() };
    }
    throw new Error('too many redirects');
  };
  let page = await request(startUrl);
  for (let step = 0; step < 10; step++) {
    if (/Sign-in Success|signed in/i.test(page.html) && !/<form/i.test(page.html)) return;
    if (/The Sign-in request was interrupted/.test(page.html)) return;
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(page.html);
    if (!form) throw new Error(`the provider showed a page without a form: ${page.html.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input[^>]*>/gi)) {
      const name = /name="([^"]+)"/.exec(input[0])?.[1];
      if (!name) continue;
      fields.set(name, /value="([^"]*)"/.exec(input[0])?.[1] ?? '');
    }
    if (fields.has('login')) {
      fields.set('login', account);
      fields.set('password', 'any');
    }
    if (fields.has('confirm') && choice === 'abort') {
      fields.delete('confirm');
      fields.set('abort', 'yes');
    }
    page = await request(new URL(form[1]!.replace(/&amp;/g, '&'), page.url).href, fields);
  }
  throw new Error('the sign-in did not finish');
}
