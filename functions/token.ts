/**
 * POST /v1/token — OAuth 2.0 Token Exchange (RFC 8693). An identity token from a trusted
 * issuer becomes a short-lived Warden token. Errors follow RFC 6749 §5.2.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { WardenError } from '../core/errors.js';
import { apiErrors, json, rawBody, type ErrorFormat } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

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
});

/** RFC 8693 §2.1 sends application/x-www-form-urlencoded; JSON is accepted too for scripts. */
function readExchange(event: APIGatewayProxyEventV2): z.infer<typeof exchangeSchema> {
  const body = rawBody(event);
  const contentType = event.headers['content-type'] ?? '';
  let fields: Record<string, unknown>;
  if (contentType.startsWith('application/json')) {
    try {
      fields = JSON.parse(body) as Record<string, unknown>;
    } catch {
      throw new WardenError('INVALID_REQUEST', 'the request body is not JSON');
    }
    if (typeof fields.audience === 'string') fields.audience = [fields.audience];
  } else {
    const form = new URLSearchParams(body);
    fields = Object.fromEntries(form);
    const audiences = form.getAll('audience');
    fields.audience = audiences.length > 0 ? audiences : undefined;
  }
  const parsed = exchangeSchema.safeParse(fields);
  if (!parsed.success) throw new WardenError('INVALID_REQUEST', parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

/** RFC 6749 §5.2 (with RFC 8693 §2.2.2's invalid_target): every error is a 400, except a failure of the control plane itself. */
const oauthErrors: ErrorFormat = {
  body: (error) => ({
    error: error.code === 'INVALID_REQUEST' ? 'invalid_request' : error.code === 'WRONG_AUDIENCE' ? 'invalid_target' : error.code === 'CONTROL_PLANE_UNAVAILABLE' || error.code === 'STORE_UNAVAILABLE' ? 'temporarily_unavailable' : 'invalid_grant',
    error_description: error.message,
  }),
  status: (error) => (error.code === 'CONTROL_PLANE_UNAVAILABLE' || error.code === 'STORE_UNAVAILABLE' ? 503 : 400),
};

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(apiErrors(oauthErrors))
  .handler(async (event) => {
    const runtime = getRuntime();
    const request = readExchange(event);
    if (!runtime.devIssuer) {
      throw new WardenError('INVALID_TOKEN', 'no identity issuer is configured: enable identity.devIssuer or configure an OIDC issuer');
    }
    const identity = await runtime.devIssuer.verify(request.subject_token);
    const connections = Object.keys(runtime.config.connections);
    const audience = request.audience ?? connections;
    const unknown = audience.filter((name) => !connections.includes(name));
    if (unknown.length > 0) {
      throw new WardenError('WRONG_AUDIENCE', `unknown connection(s) in audience: ${unknown.join(', ')}; known: ${connections.join(', ') || '(none)'}`);
    }
    const { token, claims } = await runtime.tokens.issue({
      sub: identity.sub,
      groups: identity.groups,
      audience,
      scope: request.scope ?? DEFAULT_SCOPE,
    });
    return json(200, {
      access_token: token,
      issued_token_type: JWT_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: claims.exp - claims.iat,
      scope: claims.scope,
    });
  });
