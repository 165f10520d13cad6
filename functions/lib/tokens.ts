/**
 * Warden tokens: short-lived ES256 JWTs the control plane issues in exchange for an
 * identity token (RFC 8693), and checks when a proxy opens a session.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { WardenError } from '../../core/errors.js';
import type { EcSigningKey } from './key-files.js';

export interface WardenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly groups: readonly string[];
  /** The connections this token may open. */
  readonly aud: readonly string[];
  /** The root session id of the identity chain. */
  readonly chain: string;
  readonly scope: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

export interface IssueRequest {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly audience: readonly string[];
  readonly scope: string;
}

export class TokenService {
  constructor(
    private readonly key: EcSigningKey,
    readonly issuer: string,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(request: IssueRequest): Promise<{ token: string; claims: WardenClaims }> {
    const iat = Math.floor(this.now() / 1000);
    const claims: WardenClaims = {
      iss: this.issuer,
      sub: request.sub,
      groups: [...request.groups],
      aud: [...request.audience],
      chain: randomUUID(),
      scope: request.scope,
      jti: randomUUID(),
      iat,
      exp: iat + this.ttlSeconds,
    };
    const token = await new SignJWT({ groups: claims.groups, chain: claims.chain, scope: claims.scope })
      .setProtectedHeader({ alg: 'ES256', kid: this.key.kid, typ: 'JWT' })
      .setIssuer(claims.iss)
      .setSubject(claims.sub)
      .setAudience([...claims.aud])
      .setJti(claims.jti)
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(this.key.privateKey);
    return { token, claims };
  }

  /** Checks signature, issuer, expiry and that `connection` is in the audience. */
  async verify(token: string, connection: string): Promise<WardenClaims> {
    const payload = await verifyJwt(token, 'Warden token', () =>
      jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        audience: connection,
        algorithms: ['ES256'],
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'chain'],
      }),
    );
    return {
      iss: String(payload.iss),
      sub: String(payload.sub),
      groups: stringArray(payload.groups),
      aud: stringArray(payload.aud),
      chain: String(payload.chain),
      scope: typeof payload.scope === 'string' ? payload.scope : '',
      jti: String(payload.jti),
      iat: Number(payload.iat),
      exp: Number(payload.exp),
    };
  }
}

/** Runs a jose verification and turns its failure into a WardenError naming the cause and the fix. */
export async function verifyJwt(
  token: string,
  what: string,
  verify: () => Promise<{ payload: JWTPayload }>,
): Promise<JWTPayload> {
  if (token.split('.').length !== 3) {
    throw new WardenError('INVALID_TOKEN', `the password is not a ${what} (expected a JWT); get one with: warden token --as NAME`);
  }
  try {
    return (await verify()).payload;
  } catch (error) {
    throw describeJoseError(error, what);
  }
}

function describeJoseError(error: unknown, what: string): WardenError {
  const fix = 'get a new one with: warden token --as NAME';
  if (error instanceof joseErrors.JWTExpired) {
    const exp = Number(error.payload.exp);
    return new WardenError('TOKEN_EXPIRED', `${what} expired at ${new Date(exp * 1000).toISOString()}; ${fix}`, { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new WardenError('FOREIGN_TOKEN', `${what} signature does not verify: it was not issued by this Warden; ${fix}`, { cause: error });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      return new WardenError('WRONG_AUDIENCE', `${what} is not valid for this connection (audience ${JSON.stringify(error.payload.aud)}); request a token for it`, { cause: error });
    }
    return new WardenError('INVALID_TOKEN', `${what} claim "${error.claim}" is invalid (${error.reason}); ${fix}`, { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new WardenError('INVALID_TOKEN', `${what} uses an algorithm this Warden does not accept; ${fix}`, { cause: error });
  }
  return new WardenError('INVALID_TOKEN', `the password is not a valid ${what}; ${fix}`, { cause: error });
}

function stringArray(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
