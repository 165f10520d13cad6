import { BufferReader } from './buffer-reader.js';
import { AuthenticationKind, BackendCode, CANCEL_KEY_BYTES, describeTypeByte } from './codes.js';
import { ProtocolError } from './errors.js';
import { MessageFramer, checkSizeLimit } from './message-framer.js';

/**
 * Messages a server sends, as the proxy reads them. Only the messages the proxy acts on are
 * decoded; the rest (RowDescription, DataRow, CommandComplete, ...) come as `other` with their
 * bytes, to be forwarded unchanged. `raw` is exactly the whole message.
 */
export type BackendMessage =
  | {
      name: 'authentication';
      /** See AuthenticationKind: 0 ok, 3 cleartext, 5 md5, 10 SASL, 11 SASLContinue, 12 SASLFinal. */
      kind: number;
      /** The bytes after the kind: md5 salt, SASL mechanism list or SASL payload. */
      data: Buffer;
      /** Present for kind 10 (AuthenticationSASL) only. */
      saslMechanisms?: string[];
      raw: Buffer;
    }
  | { name: 'parameterStatus'; parameter: string; value: string; raw: Buffer }
  /** The secret is 4 bytes in protocol 3.0, 4 to 256 bytes in 3.2. */
  | { name: 'backendKeyData'; processId: number; secretKey: Buffer; raw: Buffer }
  | { name: 'readyForQuery'; status: 'I' | 'T' | 'E'; raw: Buffer }
  /** Fields keyed by their one-letter code (S, V, C, M, D, H, ...); null-prototype object. */
  | { name: 'errorResponse'; fields: Record<string, string>; raw: Buffer }
  | { name: 'noticeResponse'; fields: Record<string, string>; raw: Buffer }
  | {
      name: 'negotiateProtocolVersion';
      /** Newest version the server offers, as major << 16 | minor (see the serializer). */
      protocolVersion: number;
      unrecognizedOptions: string[];
      raw: Buffer;
    }
  | { name: 'other'; code: number; raw: Buffer };

export type BackendMessageOf<Name extends BackendMessage['name']> = Extract<
  BackendMessage,
  { name: Name }
>;

export interface BackendParserOptions {
  /** Largest message, measured as the value of its length field. Default 64 MiB. */
  maxMessageBytes?: number;
}

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/**
 * libpq treats a message over 30000 bytes as lost synchronisation unless its type can be
 * long (VALID_LONG_MESSAGE_TYPE in fe-protocol3.c); ParameterDescription is added here since
 * it holds 4 bytes per parameter, up to 65535 parameters.
 */
const SHORT_MESSAGE_LIMIT = 30_000;
const LONG_MESSAGE_CODES: ReadonlySet<number> = new Set([
  BackendCode.rowDescription,
  BackendCode.dataRow,
  BackendCode.copyData,
  BackendCode.functionCallResponse,
  BackendCode.errorResponse,
  BackendCode.noticeResponse,
  BackendCode.notificationResponse,
  BackendCode.parameterDescription,
]);
const KNOWN_CODES: ReadonlySet<number> = new Set(Object.values(BackendCode));
const KNOWN_AUTHENTICATION_KINDS: ReadonlySet<number> = new Set(Object.values(AuthenticationKind));
const HEADER_BYTES = 5;

/**
 * Parses what a server sends. Every type byte must be one the protocol defines, and every
 * length is checked before the body is buffered. Once push has thrown, every later push throws
 * the same error.
 */
export class BackendParser {
  private readonly framer = new MessageFramer();
  private readonly maxMessageBytes: number;
  private readonly shortMessageLimit: number;
  private failure: ProtocolError | undefined;

  constructor(options: BackendParserOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    checkSizeLimit(this.maxMessageBytes, 'maxMessageBytes');
    this.shortMessageLimit = Math.min(this.maxMessageBytes, SHORT_MESSAGE_LIMIT);
  }

  /** Bytes received but not yet part of a returned message. */
  get bufferedBytes(): number {
    return this.framer.bufferedBytes;
  }

  /**
   * Feeds bytes and returns every message they complete, in order. The chunk must not be
   * modified afterwards, since `raw` may be a view of it. Throws ProtocolError.
   */
  push(chunk: Buffer): BackendMessage[] {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.framer.feed(chunk);
      const messages: BackendMessage[] = [];
      for (;;) {
        const raw = this.framer.next(HEADER_BYTES, this.measure);
        if (raw === undefined) return messages;
        messages.push(decodeBackendMessage(raw));
      }
    } catch (error) {
      if (error instanceof ProtocolError) this.failure = error;
      throw error;
    }
  }

  private readonly measure = (header: Buffer): number => {
    const code = header[0] as number;
    if (!KNOWN_CODES.has(code)) {
      throw new ProtocolError('UNKNOWN_MESSAGE', `unknown backend message type ${describeTypeByte(code)}`);
    }
    const length = header.readInt32BE(1);
    if (length < 4) {
      throw new ProtocolError('MALFORMED_MESSAGE', `invalid message length ${length}`);
    }
    const limit = LONG_MESSAGE_CODES.has(code) ? this.maxMessageBytes : this.shortMessageLimit;
    if (length > limit) {
      throw new ProtocolError(
        'MESSAGE_TOO_LARGE',
        `message ${describeTypeByte(code)} of ${length} bytes exceeds the limit of ${limit}`,
      );
    }
    return length + 1;
  };
}

function decodeBackendMessage(raw: Buffer): BackendMessage {
  const code = raw[0] as number;
  switch (code) {
    case BackendCode.authentication:
      return decodeAuthentication(raw);
    case BackendCode.parameterStatus:
      return decodeParameterStatus(raw);
    case BackendCode.backendKeyData:
      return decodeBackendKeyData(raw);
    case BackendCode.readyForQuery:
      return decodeReadyForQuery(raw);
    case BackendCode.errorResponse:
      return { name: 'errorResponse', fields: decodeFields(raw, 'ErrorResponse'), raw };
    case BackendCode.noticeResponse:
      return { name: 'noticeResponse', fields: decodeFields(raw, 'NoticeResponse'), raw };
    case BackendCode.negotiateProtocolVersion:
      return decodeNegotiateProtocolVersion(raw);
    default:
      return { name: 'other', code, raw };
  }
}

function decodeAuthentication(raw: Buffer): BackendMessage {
  const reader = new BufferReader(raw, HEADER_BYTES, 'Authentication');
  const kind = reader.int32();
  if (!KNOWN_AUTHENTICATION_KINDS.has(kind)) {
    throw new ProtocolError('UNKNOWN_MESSAGE', `unknown authentication request ${kind}`);
  }
  const data = raw.subarray(HEADER_BYTES + 4);
  switch (kind) {
    case AuthenticationKind.ok:
    case AuthenticationKind.kerberosV5:
    case AuthenticationKind.cleartextPassword:
    case AuthenticationKind.gss:
    case AuthenticationKind.sspi:
      reader.expectEnd();
      return { name: 'authentication', kind, data, raw };
    case AuthenticationKind.md5Password:
      reader.bytes(4);
      reader.expectEnd();
      return { name: 'authentication', kind, data, raw };
    case AuthenticationKind.sasl:
      return { name: 'authentication', kind, data, saslMechanisms: readSaslMechanisms(reader), raw };
    default:
      return { name: 'authentication', kind, data, raw };
  }
}

/** AuthenticationSASL: mechanism names, each a string, closed by an empty string. */
function readSaslMechanisms(reader: BufferReader): string[] {
  const mechanisms: string[] = [];
  for (;;) {
    const mechanism = reader.cstring();
    if (mechanism === '') break;
    mechanisms.push(mechanism);
  }
  reader.expectEnd();
  if (mechanisms.length === 0) {
    throw new ProtocolError('MALFORMED_MESSAGE', 'AuthenticationSASL: no mechanism offered');
  }
  return mechanisms;
}

function decodeParameterStatus(raw: Buffer): BackendMessage {
  const reader = new BufferReader(raw, HEADER_BYTES, 'ParameterStatus');
  const parameter = reader.cstring();
  const value = reader.cstring();
  reader.expectEnd();
  return { name: 'parameterStatus', parameter, value, raw };
}

function decodeBackendKeyData(raw: Buffer): BackendMessage {
  const reader = new BufferReader(raw, HEADER_BYTES, 'BackendKeyData');
  const processId = reader.int32();
  const secretKey = reader.rest();
  if (secretKey.length < CANCEL_KEY_BYTES.min || secretKey.length > CANCEL_KEY_BYTES.max) {
    throw new ProtocolError('MALFORMED_MESSAGE', `BackendKeyData: secret key of ${secretKey.length} bytes`);
  }
  return { name: 'backendKeyData', processId, secretKey, raw };
}

function decodeReadyForQuery(raw: Buffer): BackendMessage {
  const reader = new BufferReader(raw, HEADER_BYTES, 'ReadyForQuery');
  const status = String.fromCharCode(reader.byte());
  reader.expectEnd();
  if (status !== 'I' && status !== 'T' && status !== 'E') {
    throw new ProtocolError('MALFORMED_MESSAGE', 'ReadyForQuery: unknown transaction status');
  }
  return { name: 'readyForQuery', status, raw };
}

/** ErrorResponse and NoticeResponse: (code byte, string) pairs closed by a zero byte. */
function decodeFields(raw: Buffer, context: string): Record<string, string> {
  const reader = new BufferReader(raw, HEADER_BYTES, context);
  const fields: Record<string, string> = Object.create(null);
  for (;;) {
    const code = reader.byte();
    if (code === 0) break;
    const key = String.fromCharCode(code);
    if (Object.hasOwn(fields, key)) {
      throw new ProtocolError('MALFORMED_MESSAGE', `${context}: repeated field ${describeTypeByte(code)}`);
    }
    fields[key] = reader.cstring();
  }
  reader.expectEnd();
  return fields;
}

function decodeNegotiateProtocolVersion(raw: Buffer): BackendMessage {
  const reader = new BufferReader(raw, HEADER_BYTES, 'NegotiateProtocolVersion');
  const protocolVersion = reader.int32();
  if (protocolVersion >>> 16 !== 3) {
    throw new ProtocolError('MALFORMED_MESSAGE', 'NegotiateProtocolVersion: offers a major version other than 3');
  }
  const count = reader.int32();
  if (count < 0) {
    throw new ProtocolError('MALFORMED_MESSAGE', 'NegotiateProtocolVersion: negative option count');
  }
  reader.ensureAvailable(count, `${count} option names`);
  const unrecognizedOptions: string[] = [];
  for (let i = 0; i < count; i++) unrecognizedOptions.push(reader.cstring());
  reader.expectEnd();
  return { name: 'negotiateProtocolVersion', protocolVersion, unrecognizedOptions, raw };
}
