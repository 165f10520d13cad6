/**
 * The HTTP edge of the control plane: request parsing with zod, the translation of
 * WardenError codes into status codes, and who may call the proxy routes. Handlers throw;
 * only this module writes errors.
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareObj, MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import { WardenError, type WardenErrorCode } from '../../core/errors.js';
import type { Route } from '../routes.js';
import { isSessionOf, parseRoleArn } from './iam-arn.js';
import { controlPlaneHandler, logger } from './observability.js';
import { getRuntime } from './runtime.js';

type Middleware = MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

const statusByCode: Record<WardenErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  FOREIGN_TOKEN: 401,
  WRONG_AUDIENCE: 403,
  INVALID_SCOPE: 403,
  UNKNOWN_CONNECTION: 404,
  UNKNOWN_SESSION: 404,
  SESSION_ENDED: 409,
  UNAUTHENTICATED_PROXY: 401,
  STORE_UNAVAILABLE: 503,
  CHAIN_CONFLICT: 409,
  INVALID_SIGNATURE: 401,
  UNKNOWN_APPROVAL: 404,
  NOT_AN_APPROVER: 403,
  ALREADY_DECIDED: 409,
  APPROVAL_EXPIRED: 409,
  UNKNOWN_GRANT: 404,
  CONTROL_PLANE_UNAVAILABLE: 503,
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

export function rawBody(event: APIGatewayProxyEventV2): string {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}

export function parseJsonBody<S extends z.ZodType>(event: APIGatewayProxyEventV2, schema: S): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(rawBody(event));
  } catch {
    throw new WardenError('INVALID_REQUEST', 'the request body is not JSON');
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const fields = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
    throw new WardenError('INVALID_REQUEST', `invalid request: ${fields.join('; ')}`);
  }
  return result.data;
}

export interface ErrorFormat {
  readonly body: (error: WardenError) => unknown;
  readonly status: (error: WardenError) => number;
}

const apiErrorFormat: ErrorFormat = {
  body: (error) => ({ error: error.code, message: error.message }),
  status: (error) => statusByCode[error.code],
};

export interface ApiHandlerOptions {
  readonly audience: Route['audience'];
  /** How errors are written; default `{ error: CODE, message }` with the code's status. */
  readonly errors?: ErrorFormat;
}

/** Every HTTP API handler starts here: logs and metrics, errors as statuses, and the proxy fleet only on proxy routes. */
export function apiHandler({ audience, errors = apiErrorFormat }: ApiHandlerOptions): MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return controlPlaneHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>((event) => event.routeKey, [apiErrors(errors), ...(audience === 'proxy' ? [requireProxyFleet()] : [])]);
}

/** Turns a thrown WardenError into its status and body; anything else is a 500 that names no internals. */
function apiErrors(format: ErrorFormat): Middleware {
  return {
    onError: async (request) => {
      const error = request.error;
      if (error instanceof WardenError) {
        request.response = json(format.status(error), format.body(error));
        return;
      }
      logger.error('unhandled control-plane error', { error });
      const internal = new WardenError('CONTROL_PLANE_UNAVAILABLE', 'internal error in the control plane');
      request.response = json(500, format.body(internal));
    },
  };
}

/**
 * Proxy routes accept only the proxy fleet. In AWS, WARDEN_PROXY_ROLE_ARN names the proxy
 * task role: the HTTP API's IAM authorizer has checked the caller's SigV4 signature, and the
 * caller must be a session of that role. Locally (no role configured) the proxy presents the
 * key `warden up` shares with it. Each mode accepts only its own proof.
 */
function requireProxyFleet(): Middleware {
  return {
    before: async ({ event }) => {
      const role = process.env.WARDEN_PROXY_ROLE_ARN;
      if (!(role === undefined ? presentsProxyKey(event) : isProxyRoleSession(event, role))) {
        throw new WardenError('UNAUTHENTICATED_PROXY', 'this route is for the Warden proxy fleet only');
      }
    },
  };
}

function presentsProxyKey(event: APIGatewayProxyEventV2): boolean {
  const header = event.headers.authorization ?? '';
  const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(getRuntime().proxyKey);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

function isProxyRoleSession(event: APIGatewayProxyEventV2, roleArn: string): boolean {
  const role = parseRoleArn(roleArn);
  // A deployment fault, not the caller's: a 500 in the log, and nobody gets in.
  if (!role) throw new Error(`WARDEN_PROXY_ROLE_ARN is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME): ${JSON.stringify(roleArn)}`);
  const { authorizer } = event.requestContext as { authorizer?: { iam?: { userArn?: unknown } } };
  const caller = authorizer?.iam?.userArn;
  return typeof caller === 'string' && isSessionOf(caller, role);
}
