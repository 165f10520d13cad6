/**
 * The control plane's error family. Every refusal the control plane can give has a stable
 * code; the HTTP layer (functions/lib/http.ts) and the proxy translate codes at the edge only.
 */
export type WardenErrorCode =
  | 'INVALID_REQUEST'
  | 'INVALID_TOKEN'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_REVOKED'
  | 'FOREIGN_TOKEN'
  | 'WRONG_AUDIENCE'
  | 'INVALID_SCOPE'
  | 'UNKNOWN_CONNECTION'
  | 'UNKNOWN_SESSION'
  | 'SESSION_ENDED'
  | 'UNAUTHENTICATED_PROXY'
  | 'STORE_UNAVAILABLE'
  | 'CHAIN_CONFLICT'
  | 'INVALID_SIGNATURE'
  | 'UNKNOWN_APPROVAL'
  | 'NOT_AN_APPROVER'
  | 'ALREADY_DECIDED'
  | 'APPROVAL_EXPIRED'
  | 'UNKNOWN_GRANT'
  | 'CONTROL_PLANE_UNAVAILABLE';

export class WardenError extends Error {
  override readonly name = 'WardenError';
  constructor(
    readonly code: WardenErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function isWardenError(error: unknown, code?: WardenErrorCode): error is WardenError {
  return error instanceof WardenError && (code === undefined || error.code === code);
}
