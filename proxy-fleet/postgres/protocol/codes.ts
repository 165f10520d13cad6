/**
 * Numeric codes of the PostgreSQL frontend/backend protocol, from the PostgreSQL docs, chapter
 * "Frontend/Backend Protocol", section "Message Formats". Plain `as const` objects rather than
 * const enums: they survive isolatedModules and type-stripping unchanged.
 */

/** Type bytes of the messages a client sends once the startup packet has been accepted. */
export const FrontendCode = {
  bind: 0x42, // 'B'
  close: 0x43, // 'C'
  copyData: 0x64, // 'd'
  copyDone: 0x63, // 'c'
  copyFail: 0x66, // 'f'
  describe: 0x44, // 'D'
  execute: 0x45, // 'E'
  flush: 0x48, // 'H'
  functionCall: 0x46, // 'F'
  parse: 0x50, // 'P'
  password: 0x70, // 'p' (also SASLInitialResponse, SASLResponse, GSSResponse)
  query: 0x51, // 'Q'
  sync: 0x53, // 'S'
  terminate: 0x58, // 'X'
} as const;

/** Type bytes of the messages a server sends. */
export const BackendCode = {
  authentication: 0x52, // 'R'
  backendKeyData: 0x4b, // 'K'
  bindComplete: 0x32, // '2'
  closeComplete: 0x33, // '3'
  commandComplete: 0x43, // 'C'
  copyBothResponse: 0x57, // 'W'
  copyData: 0x64, // 'd'
  copyDone: 0x63, // 'c'
  copyInResponse: 0x47, // 'G'
  copyOutResponse: 0x48, // 'H'
  dataRow: 0x44, // 'D'
  emptyQueryResponse: 0x49, // 'I'
  errorResponse: 0x45, // 'E'
  functionCallResponse: 0x56, // 'V'
  negotiateProtocolVersion: 0x76, // 'v'
  noData: 0x6e, // 'n'
  noticeResponse: 0x4e, // 'N'
  notificationResponse: 0x41, // 'A'
  parameterDescription: 0x74, // 't'
  parameterStatus: 0x53, // 'S'
  parseComplete: 0x31, // '1'
  portalSuspended: 0x73, // 's'
  readyForQuery: 0x5a, // 'Z'
  rowDescription: 0x54, // 'T'
} as const;

/**
 * The int32 that follows the length of an untyped startup-phase packet: a protocol version
 * (major << 16 | minor) or one of the request codes PostgreSQL carves out of major 1234.
 */
export const StartupCode = {
  protocol3_0: 196608, // 3 << 16 | 0
  protocol3_2: 196610, // 3 << 16 | 2
  cancelRequest: 80877102, // 1234 << 16 | 5678
  sslRequest: 80877103, // 1234 << 16 | 5679
  gssEncRequest: 80877104, // 1234 << 16 | 5680
} as const;

/** The int32 that opens every Authentication ('R') message. */
export const AuthenticationKind = {
  ok: 0,
  kerberosV5: 2,
  cleartextPassword: 3,
  md5Password: 5,
  gss: 7,
  gssContinue: 8,
  sspi: 9,
  sasl: 10,
  saslContinue: 11,
  saslFinal: 12,
} as const;

/**
 * Length of the secret in BackendKeyData and CancelRequest: always 4 bytes in protocol 3.0,
 * 4 to 256 bytes in 3.2 ("Message Formats", BackendKeyData).
 */
export const CANCEL_KEY_BYTES = { min: 4, max: 256 } as const;

/** The single byte a server answers SSLRequest or GSSENCRequest with when it declines. */
export const NEGOTIATION_REFUSED = 0x4e; // 'N'
export const NEGOTIATION_ACCEPTED = 0x53; // 'S'

/** How error texts name a type byte: hex, since the byte may be unprintable. */
export function describeTypeByte(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}
