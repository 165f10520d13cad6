/**
 * Warden tokens: short-lived ES256 JWTs the control plane issues in exchange for an
 * identity token (RFC 8693), and checks when a proxy opens a session.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { WardenError } from '../../core/errors.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { EcSigningKey } from './key-files.js';

export interface WardenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly groups: readonly string[];
  /** The connections this token may open. */
  readonly aud: readonly string[];
  /** The root session id of the identity chain. */
  readonly chain: string;
  /** The agents acting for `sub`, in the order they joined the chain (RFC 8693 `act`, flattened). */
  readonly act: readonly { readonly sub: string }[];
  /** The root identity is a workload (client credentials), not a person. */
  readonly workload: boolean;
  readonly scope: string;
  /** Why the chain exists (a ticket, a task), shown to approvers; children inherit it. */
  readonly justification?: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
}

/** The identity chain a Warden token speaks for, as sessions and ledger entries carry it. */
export function identityOf(claims: WardenClaims): IdentityChain {
  return { sub: claims.sub, groups: claims.groups, chain: claims.chain, act: claims.act, ...(claims.workload ? { workload: true } : {}) };
}

export interface IssueRequest {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly audience: readonly string[];
  readonly scope: string;
  readonly workload?: boolean;
  readonly justification?: string | undefined;
  /** For a child token: the parent's claims and the agent that will act with it. */
  readonly delegation?: { readonly parent: WardenClaims; readonly actor: string };
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
    const parent = request.delegation?.parent;
    const claims: WardenClaims = {
      iss: this.issuer,
      sub: request.sub,
      groups: [...request.groups],
      aud: [...request.audience],
      chain: parent?.chain ?? randomUUID(),
      act: parent ? [...parent.act, { sub: request.delegation!.actor }] : [],
      workload: parent?.workload ?? request.workload ?? false,
      scope: request.scope,
      ...((request.justification ?? parent?.justification) ? { justification: request.justification ?? parent?.justification } : {}),
      jti: randomUUID(),
      iat,
      // A child never outlives its parent (invariant 5).
      exp: Math.min(iat + this.ttlSeconds, parent?.exp ?? Number.POSITIVE_INFINITY),
    };
    const token = await new SignJWT({ groups: claims.groups, chain: claims.chain, scope: claims.scope, ...(claims.act.length > 0 ? { act: nestActors(claims.act) } : {}), ...(claims.workload ? { workload: true } : {}), ...(claims.justification ? { justification: claims.justification } : {}) })
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

  /** Checks signature, issuer, expiry and, when a connection is given, that it is in the audience. */
  async verify(token: string, connection?: string): Promise<WardenClaims> {
    const payload = await verifyJwt(token, 'Warden token', () =>
      jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        ...(connection === undefined ? {} : { audience: connection }),
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
      act: flattenActors(payload.act),
      workload: payload.workload === true,
      scope: typeof payload.scope === 'string' ? payload.scope : '',
      ...(typeof payload.justification === 'string' ? { justification: payload.justification } : {}),
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
      const target = what === 'Warden token' ? 'this connection' : 'this gateway';
      return new WardenError('WRONG_AUDIENCE', `${what} is not valid for ${target} (audience ${JSON.stringify(error.payload.aud)}); request a token for it`, { cause: error });
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

/**
 * RFC 8693 §4.1: the current actor is the outermost `act`; earlier actors nest inside it.
 * The chain [a1, a2] (a1 joined first) becomes { sub: a2, act: { sub: a1 } }.
 */
function nestActors(actors: readonly { sub: string }[]): Record<string, unknown> {
  let nested: Record<string, unknown> | undefined;
  for (const actor of actors) nested = nested ? { sub: actor.sub, act: nested } : { sub: actor.sub };
  return nested!;
}

function flattenActors(act: unknown): { sub: string }[] {
  const actors: { sub: string }[] = [];
  for (let level = act; typeof level === 'object' && level !== null && typeof (level as { sub?: unknown }).sub === 'string'; level = (level as { act?: unknown }).act) {
    actors.unshift({ sub: (level as { sub: string }).sub });
  }
  return actors;
}
