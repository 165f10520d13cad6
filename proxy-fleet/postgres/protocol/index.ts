export { BackendParser } from './backend.js';
export type { BackendMessage, BackendMessageOf, BackendParserOptions } from './backend.js';
export { BufferReader } from './buffer-reader.js';
export { BufferWriter } from './buffer-writer.js';
export {
  AuthenticationKind,
  BackendCode,
  CANCEL_KEY_BYTES,
  FrontendCode,
  NEGOTIATION_REFUSED,
  StartupCode,
} from './codes.js';
export { ProtocolError, ScramError } from './errors.js';
export type { ProtocolErrorCode, ScramErrorCode } from './errors.js';
export { FrontendParser, decodePasswordMessage } from './frontend.js';
export type { FrontendMessage, FrontendMessageOf, FrontendParserOptions } from './frontend.js';
export { ScramClient, deriveScramKeys } from './scram.js';
export type { ScramClientOptions, ScramKeys } from './scram.js';
export { buildDataRow, dataRowValues, decodeRowDescription } from './rows.js';
export type { ColumnDescription } from './rows.js';
export { serialize } from './serializer.js';
export type { ErrorResponseFields, FormatCode, NoticeResponseFields } from './serializer.js';
