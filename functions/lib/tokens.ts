/**
 * Warden tokens: short-lived JWTs the control plane issues in exchange for an identity token
 * (RFC 8693), and checks when a proxy opens a session. Locally they are ES256 with a key file;
 * in AWS, RS256 with a KMS key (kms-signers.ts), because the HTTP API's JWT authorizer checks
 * RSA signatures only.
 */
import { randomUUID, webcrypto, type KeyObject } from 'node:crypto';
import { base64url, errors as joseErrors, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { WardenError } from '../../core/errors.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { EcSigningKey } from './key-files.js';

/** The key Warden tokens are signed with; its private half may live in a KMS. */
export interface TokenKey {
  readonly alg: 'ES256' | 'RS256';
  readonly kid: string;
  readonly publicKey: CryptoKey | KeyObject;
  /** The public JWK (with kid, alg and use), as the JWKS publishes it. */
  readonly publicJwk: JWK;
  /** The JWS signature (RFC 7515 §5.1) of the ASCII signing input `header.payload`. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

/** An ES256 key file as a TokenKey; WebCrypto's ECDSA signature is already JWS's r || s. */
export function localTokenKey(key: EcSigningKey): TokenKey {
  return {
    alg: 'ES256',
    kid: key.kid,
    publicKey: key.publicKey,
    publicJwk: key.publicJwk,
    sign: async (signingInput) => new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, signingInput)),
  };
}

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

export interface TokenServiceOptions {
  /**
   * An `aud` every token also carries, for a gateway that requires one (the HTTP API's JWT
   * authorizer, WARDEN_TOKEN_AUDIENCE). It is not a connection: claims never list it, and no
   * token opens a connection of that name.
   */
  readonly deploymentAudience?: string | undefined;
  readonly now?: () => number;
}

export class TokenService {
  private readonly deploymentAudience: string | undefined;
  private readonly now: () => number;

  constructor(
    private readonly key: TokenKey,
    readonly issuer: string,
    private readonly ttlSeconds: number,
    options: TokenServiceOptions = {},
  ) {
    this.deploymentAudience = options.deploymentAudience;
    this.now = options.now ?? Date.now;
  }

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
    const payload = {
      iss: claims.iss,
      sub: claims.sub,
      aud: this.deploymentAudience === undefined ? claims.aud : [...claims.aud, this.deploymentAudience],
      groups: claims.groups,
      chain: claims.chain,
      scope: claims.scope,
      ...(claims.act.length > 0 ? { act: nestActors(claims.act) } : {}),
      ...(claims.workload ? { workload: true } : {}),
      ...(claims.justification ? { justification: claims.justification } : {}),
      jti: claims.jti,
      iat: claims.iat,
      exp: claims.exp,
    };
    const signingInput = `${encodeJson({ alg: this.key.alg, kid: this.key.kid, typ: 'JWT' })}.${encodeJson(payload)}`;
    const token = `${signingInput}.${base64url.encode(await this.key.sign(Buffer.from(signingInput, 'ascii')))}`;
    return { token, claims };
  }

  /** The JWKS (RFC 7517) that verifies the tokens this service issues. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.key.publicJwk] };
  }

  /** Checks signature, issuer, expiry and, when a connection is given, that it is in the audience. */
  async verify(token: string, connection?: string): Promise<WardenClaims> {
    if (connection !== undefined && connection === this.deploymentAudience) {
      throw new WardenError('WRONG_AUDIENCE', `${JSON.stringify(connection)} is the deployment's token audience, not a connection; rename the connection`);
    }
    const payload = await verifyJwt(token, 'Warden token', () =>
      jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        ...(connection === undefined ? {} : { audience: connection }),
        algorithms: [this.key.alg],
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'chain'],
      }),
    );
    return {
      iss: String(payload.iss),
      sub: String(payload.sub),
      groups: stringArray(payload.groups),
      aud: stringArray(payload.aud).filter((audience) => audience !== this.deploymentAudience),
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

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
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
