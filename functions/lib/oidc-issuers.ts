/**
 * Identity tokens from real OpenID Connect providers: ID tokens for people, JWT access
 * tokens (client credentials) for workloads. Keys come from the issuer's JWKS (found through
 * its discovery document); jose caches them and refetches on an unknown kid, at most once
 * per cooldown, so a flood of forged kids cannot turn into a flood of fetches.
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { WardenError } from '../../core/errors.js';
import { verifyJwt } from './tokens.js';

export interface IssuerConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly deviceClientId?: string | undefined;
  readonly jwksUri?: string;
  readonly groupsClaim: string;
}

export interface VerifiedIdentity {
  readonly sub: string;
  readonly groups: readonly string[];
  /** A workload: a client-credentials token (its subject is its own client id). */
  readonly workload: boolean;
}

/** Asymmetric algorithms only: never `none`, never HMAC (which would let a public key sign). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const DISCOVERY_TIMEOUT_MS = 5000;

export class OidcIssuers {
  private readonly keys = new Map<string, Promise<JWTVerifyGetKey>>();

  constructor(private readonly issuers: readonly IssuerConfig[]) {}

  /** The configured issuer a token names in `iss` (read unverified, only to pick the keys). */
  find(iss: string | undefined): IssuerConfig | undefined {
    return this.issuers.find((config) => config.issuer === iss);
  }

  async verify(token: string, config: IssuerConfig): Promise<VerifiedIdentity> {
    const keys = await this.keysOf(config);
    const audience = config.deviceClientId ? [config.audience, config.deviceClientId] : config.audience;
    const payload = await verifyJwt(token, `identity token from ${config.issuer}`, () =>
      jwtVerify(token, keys, { issuer: config.issuer, audience, algorithms: ALGORITHMS, requiredClaims: ['sub', 'exp', 'iat'] }),
    );
    const groups = payload[config.groupsClaim];
    return {
      sub: String(payload.sub),
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
      workload: typeof payload.client_id === 'string' && payload.client_id === payload.sub,
    };
  }

  private keysOf(config: IssuerConfig): Promise<JWTVerifyGetKey> {
    let keys = this.keys.get(config.issuer);
    if (!keys) {
      keys = this.jwksUri(config).then((uri) => createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: DISCOVERY_TIMEOUT_MS }));
      // A failed discovery is retried on the next token, not cached.
      keys.catch(() => this.keys.delete(config.issuer));
      this.keys.set(config.issuer, keys);
    }
    return keys;
  }

  private async jwksUri(config: IssuerConfig): Promise<string> {
    if (config.jwksUri) return config.jwksUri;
    const url = `${config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
      const document = (await response.json()) as { issuer?: string; jwks_uri?: string };
      // OpenID Connect Discovery §4.3: the document must name the same issuer.
      if (document.issuer !== config.issuer || typeof document.jwks_uri !== 'string') throw new Error('the discovery document does not match the issuer');
      return document.jwks_uri;
    } catch (error) {
      throw new WardenError('CONTROL_PLANE_UNAVAILABLE', `cannot read ${url}: ${(error as Error).message}`, { cause: error });
    }
  }
}
