/**
 * The local development issuer behind `warden token --as NAME`: it mints OIDC-style ID
 * tokens from a key in the state directory, so the token exchange can be tried without an
 * identity provider. Real OIDC issuers replace it in production.
 */
import { SignJWT, jwtVerify } from 'jose';
import { verifyJwt } from './tokens.js';
import type { EcSigningKey } from './key-files.js';

export const DEV_ISSUER = 'urn:warden:dev-issuer';
export const DEV_ISSUER_AUDIENCE = 'warden';
const LIFETIME_SECONDS = 300;

export interface DevIdentity {
  readonly sub: string;
  readonly groups: readonly string[];
}

export class DevIssuer {
  constructor(
    private readonly key: EcSigningKey,
    private readonly now: () => number = Date.now,
  ) {}

  mint(identity: DevIdentity): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ groups: [...identity.groups] })
      .setProtectedHeader({ alg: 'ES256', kid: this.key.kid, typ: 'JWT' })
      .setIssuer(DEV_ISSUER)
      .setSubject(identity.sub)
      .setAudience(DEV_ISSUER_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + LIFETIME_SECONDS)
      .sign(this.key.privateKey);
  }

  async verify(token: string): Promise<DevIdentity> {
    const payload = await verifyJwt(token, 'identity token', () =>
      jwtVerify(token, this.key.publicKey, {
        issuer: DEV_ISSUER,
        audience: DEV_ISSUER_AUDIENCE,
        algorithms: ['ES256'],
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp'],
      }),
    );
    const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : [];
    return { sub: String(payload.sub), groups };
  }
}
