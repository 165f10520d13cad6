/**
 * Errors of the PostgreSQL wire codec. A ProtocolError means the peer broke the framing or the
 * layout of a message: the stream can no longer be trusted, so the proxy closes the connection.
 */
export type ProtocolErrorCode =
  | 'MESSAGE_TOO_LARGE'
  | 'MALFORMED_MESSAGE'
  | 'UNKNOWN_MESSAGE'
  | 'UNEXPECTED_MESSAGE'
  | 'BYTES_AFTER_SSL_REQUEST'
  | 'UNSUPPORTED_PROTOCOL_VERSION'
  | 'INVALID_ENCODING';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Why a SCRAM-SHA-256 exchange with the upstream server was abandoned. */
export type ScramErrorCode =
  | 'INVALID_STATE'
  | 'MALFORMED_SERVER_MESSAGE'
  | 'NONCE_MISMATCH'
  | 'ITERATION_COUNT_OUT_OF_RANGE'
  | 'SERVER_ERROR'
  | 'SERVER_SIGNATURE_MISMATCH';

export class ScramError extends Error {
  override readonly name = 'ScramError';
  constructor(
    readonly code: ScramErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
