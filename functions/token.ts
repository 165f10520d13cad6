/**
 * POST /v1/token — OAuth 2.0 Token Exchange (RFC 8693). An identity token from a trusted
 * issuer becomes a short-lived Warden token. Errors follow RFC 6749 §5.2.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { decodeJwt } from 'jose';
import { WardenError, type WardenErrorCode } from '../core/errors.js';
import { apiHandler, json, rawBody, type ErrorFormat } from './lib/http.js';
import { getRuntime, type Runtime } from './lib/runtime.js';
import type { IssueRequest } from './lib/tokens.js';
import { DEV_ISSUER } from './lib/dev-issuer.js';
import type { VerifiedIdentity } from './lib/oidc-issuers.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const subjectTokenTypes = [JWT_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:access_token'];
const DEFAULT_SCOPE = 'connect';

const exchangeSchema = z.object({
  grant_type: z.literal(TOKEN_EXCHANGE, { message: `grant_type must be ${TOKEN_EXCHANGE}` }),
  subject_token: z.string().min(1).max(16_384),
  subject_token_type: z.enum(subjectTokenTypes, { message: `subject_token_type must be one of ${subjectTokenTypes.join(', ')}` }),
  requested_token_type: z.literal(JWT_TOKEN_TYPE).optional(),
  audience: z.array(z.string()).optional(),
  scope: z.string().optional(),
  actor_token: z.string().min(1).max(16_384).optional(),
  actor_token_type: z.enum(subjectTokenTypes).optional(),
  /** Not RFC 8693: why this chain exists, carried in the token and shown to approvers. */
  justification: z.string().trim().min(1).max(500, 'justification: at most 500 characters').optional(),
});

/** RFC 8693 §2.1 sends application/x-www-form-urlencoded; JSON is accepted too for scripts. */
function readExchange(event: APIGatewayProxyEventV2): z.infer<typeof exchangeSchema> {
  const body = rawBody(event);
  const contentType = event.headers['content-type'] ?? '';
  let fields: Record<string, unknown>;
  if (contentType.startsWith('application/json')) {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new WardenError('INVALID_REQUEST', 'the request body is not JSON');
    }
    if (typeof value !== 'object' || value === null) throw new WardenError('INVALID_REQUEST', 'the request body is not a JSON object');
    fields = value as Record<string, unknown>;
    if (typeof fields.audience === 'string') fields.audience = [fields.audience];
  } else {
    const form = new URLSearchParams(body);
    fields = Object.fromEntries(form);
    const audiences = form.getAll('audience');
    fields.audience = audiences.length > 0 ? audiences : undefined;
  }
  const parsed = exchangeSchema.safeParse(fields);
  if (!parsed.success) {
    // Name the field unless the message already starts with it ("grant_type must be …").
    const named = (issue: z.core.$ZodIssue) => {
      const field = issue.path.join('.');
      return field === '' || issue.message.startsWith(field) ? issue.message : `${field}: ${issue.message}`;
    };
    throw new WardenError('INVALID_REQUEST', parsed.error.issues.map(named).join('; '));
  }
  return parsed.data;
}

const oauthErrorCode: Partial<Record<WardenErrorCode, string>> = {
  INVALID_REQUEST: 'invalid_request',
  INVALID_SCOPE: 'invalid_scope',
  WRONG_AUDIENCE: 'invalid_target',
  CONTROL_PLANE_UNAVAILABLE: 'temporarily_unavailable',
  STORE_UNAVAILABLE: 'temporarily_unavailable',
};

/** RFC 6749 §5.2 (with RFC 8693 §2.2.2's invalid_target): every error is a 400, except a failure of the control plane itself. */
const oauthErrors: ErrorFormat = {
  body: (error) => ({
    error: oauthErrorCode[error.code] ?? 'invalid_grant',
    error_description: error.message,
  }),
  status: (error) => (error.code === 'CONTROL_PLANE_UNAVAILABLE' || error.code === 'STORE_UNAVAILABLE' ? 503 : 400),
};

export const handler = apiHandler({ audience: 'public', errors: oauthErrors })
  .handler(async (event) => {
    const runtime = getRuntime();
    const request = readExchange(event);
    const issued = isWardenToken(request.subject_token, runtime.tokens.issuer) ? await delegate(runtime, request) : await exchangeIdentity(runtime, request);
    const { token, claims } = await runtime.tokens.issue({ ...issued, justification: request.justification });
    return json(200, {
      access_token: token,
      issued_token_type: JWT_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: claims.exp - claims.iat,
      scope: claims.scope,
    });
  });

type Exchange = z.infer<typeof exchangeSchema>;

/** A person or workload's identity token becomes the root of a new chain. */
async function exchangeIdentity(runtime: Runtime, request: Exchange): Promise<IssueRequest> {
  const identity = await verifyIdentity(runtime, request.subject_token);
  const connections = Object.keys(runtime.config.connections);
  const audience = request.audience ?? connections;
  const unknown = audience.filter((name) => !connections.includes(name));
  if (unknown.length > 0) {
    throw new WardenError('WRONG_AUDIENCE', `unknown connection(s) in audience: ${unknown.join(', ')}; known: ${connections.join(', ') || '(none)'}`);
  }
  return { sub: identity.sub, groups: identity.groups, audience, scope: request.scope ?? DEFAULT_SCOPE, workload: identity.workload };
}

/**
 * RFC 8693 delegation: the subject token is a Warden token (the parent), the actor token
 * names the agent that will act. The child keeps the root subject and the chain id, gains
 * one level of `act`, and may only narrow audience, scope and lifetime.
 */
async function delegate(runtime: Runtime, request: Exchange): Promise<IssueRequest> {
  const parent = await runtime.tokens.verify(request.subject_token);
  // A revoked token must not live on through a fresh child (which has a jti of its own).
  await runtime.revocations.ensureNotRevoked(parent);
  if (!request.actor_token) {
    throw new WardenError('INVALID_REQUEST', 'exchanging a Warden token needs an actor_token that identifies the agent which will act (RFC 8693 §2.1)');
  }
  const actor = await verifyIdentity(runtime, request.actor_token);
  const depth = parent.act.length + 1;
  if (depth > runtime.config.tokens.maxDepth) {
    throw new WardenError('INVALID_TOKEN', `the chain would be ${depth} agents deep; the maximum is ${runtime.config.tokens.maxDepth}`);
  }
  const audience = request.audience ?? parent.aud;
  const wider = audience.filter((name) => !parent.aud.includes(name));
  if (wider.length > 0) throw new WardenError('WRONG_AUDIENCE', `audience may only narrow: the parent token cannot open ${wider.join(', ')}`);
  const parentScopes = parent.scope.split(' ').filter(Boolean);
  const scope = request.scope ?? parent.scope;
  const extra = scope.split(' ').filter((s) => s && !parentScopes.includes(s));
  if (extra.length > 0) throw new WardenError('INVALID_SCOPE', `scope may only narrow: the parent token does not have ${extra.join(', ')}`);
  return { sub: parent.sub, groups: parent.groups, audience, scope, delegation: { parent, actor: actor.sub } };
}

/** An identity token from a configured OIDC issuer, or from the development issuer when it is on. */
async function verifyIdentity(runtime: Runtime, token: string): Promise<VerifiedIdentity> {
  const iss = unverifiedIssuer(token);
  const issuer = runtime.oidc.find(iss);
  if (issuer) return runtime.oidc.verify(token, issuer);
  if (runtime.devIssuer && iss === DEV_ISSUER) return { ...(await runtime.devIssuer.verify(token)), workload: false };
  throw new WardenError('INVALID_TOKEN', `tokens from issuer ${JSON.stringify(iss ?? '(none)')} are not accepted; configure it under identity.issuers`);
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    throw new WardenError('INVALID_TOKEN', 'the identity token is not a JWT');
  }
}

/** Decided on the unverified issuer only to pick the verification path; each path verifies fully. */
function isWardenToken(token: string, issuer: string): boolean {
  try {
    return decodeJwt(token).iss === issuer;
  } catch {
    return false;
  }
}
