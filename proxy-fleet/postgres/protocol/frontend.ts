import { BufferReader } from './buffer-reader.js';
import { CANCEL_KEY_BYTES, FrontendCode, StartupCode, describeTypeByte } from './codes.js';
import { ProtocolError } from './errors.js';
import { MessageFramer, checkSizeLimit } from './message-framer.js';

/**
 * Messages a client sends, as the proxy reads them. `raw` is exactly the bytes of the whole
 * message (type byte, if any, then length and body), ready to be forwarded unchanged.
 */
export type FrontendMessage =
  | {
      name: 'startup';
      /** major << 16 | minor */
      protocolVersion: number;
      /** Null-prototype object: a client-chosen key such as "__proto__" is just a key. */
      parameters: Record<string, string>;
      raw: Buffer;
    }
  | { name: 'sslRequest'; raw: Buffer }
  | { name: 'gssEncRequest'; raw: Buffer }
  | { name: 'cancelRequest'; processId: number; secretKey: Buffer; raw: Buffer }
  | { name: 'query'; text: string; raw: Buffer }
  /** PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse: only the auth phase tells. */
  | { name: 'password'; data: Buffer; raw: Buffer }
  | { name: 'parse'; statement: string; text: string; paramTypes: number[]; raw: Buffer }
  | {
      name: 'bind';
      portal: string;
      statement: string;
      /** 0 text, 1 binary; none means all text, one applies to every parameter. */
      paramFormats: number[];
      /** Views of `raw`; null is SQL NULL. */
      params: (Buffer | null)[];
      resultFormats: number[];
      raw: Buffer;
    }
  | { name: 'describe'; target: 'S' | 'P'; objectName: string; raw: Buffer }
  | { name: 'execute'; portal: string; maxRows: number; raw: Buffer }
  | { name: 'close'; target: 'S' | 'P'; objectName: string; raw: Buffer }
  | { name: 'sync'; raw: Buffer }
  | { name: 'flush'; raw: Buffer }
  | { name: 'terminate'; raw: Buffer }
  | {
      name: 'functionCall';
      functionOid: number;
      argFormats: number[];
      args: (Buffer | null)[];
      resultFormat: number;
      raw: Buffer;
    }
  | { name: 'copyData'; data: Buffer; raw: Buffer }
  | { name: 'copyDone'; raw: Buffer }
  | { name: 'copyFail'; message: string; raw: Buffer };

export type FrontendMessageOf<Name extends FrontendMessage['name']> = Extract<
  FrontendMessage,
  { name: Name }
>;

export interface FrontendParserOptions {
  /**
   * Largest typed message, measured like PostgreSQL's pq_getmessage: the value of the length
   * field (the length word plus the body). Default 64 MiB.
   */
  maxMessageBytes?: number;
  /**
   * Largest startup-phase packet, measured like PostgreSQL's ProcessStartupPacket: the bytes
   * after the length word. Default 10000 (MAX_STARTUP_PACKET_LENGTH).
   */
  maxStartupBytes?: number;
}

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_STARTUP_BYTES = 10_000;
/** PostgreSQL's PQ_SMALL_MESSAGE_LIMIT, for messages that carry no payload of their own. */
const SMALL_MESSAGE_LIMIT = 10_000;
/** PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, for password, SASL and GSS messages. */
const AUTH_MESSAGE_LIMIT = 65_535;
const STARTUP_HEADER_BYTES = 4;
const TYPED_HEADER_BYTES = 5;
const NEGOTIATION_MAJOR_VERSION = 1234;

type Phase = 'startup' | 'typed' | 'ended';

/**
 * Parses what a client sends, from the first byte of the connection on. It starts in the
 * startup phase (untyped packets); an SSLRequest or GSSENCRequest keeps it there, since another
 * startup packet follows; a StartupMessage switches it to typed messages; a CancelRequest or a
 * Terminate ends the stream, and any byte after them is an error. Once push has thrown, every
 * later push throws the same error.
 */
export class FrontendParser {
  private readonly framer = new MessageFramer();
  private readonly maxStartupBytes: number;
  private readonly typedLimits: ReadonlyMap<number, number>;
  private phase: Phase = 'startup';
  private readonly encryptionRequests = new Set<'sslRequest' | 'gssEncRequest'>();
  private failure: ProtocolError | undefined;

  constructor(options: FrontendParserOptions = {}) {
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxStartupBytes = options.maxStartupBytes ?? DEFAULT_MAX_STARTUP_BYTES;
    checkSizeLimit(maxMessageBytes, 'maxMessageBytes');
    checkSizeLimit(this.maxStartupBytes, 'maxStartupBytes');
    const small = Math.min(maxMessageBytes, SMALL_MESSAGE_LIMIT);
    const large = maxMessageBytes;
    this.typedLimits = new Map([
      [FrontendCode.query, large],
      [FrontendCode.functionCall, large],
      [FrontendCode.parse, large],
      [FrontendCode.bind, large],
      [FrontendCode.copyData, large],
      [FrontendCode.password, Math.min(maxMessageBytes, AUTH_MESSAGE_LIMIT)],
      [FrontendCode.describe, small],
      [FrontendCode.execute, small],
      [FrontendCode.close, small],
      [FrontendCode.sync, small],
      [FrontendCode.flush, small],
      [FrontendCode.terminate, small],
      [FrontendCode.copyDone, small],
      [FrontendCode.copyFail, small],
    ]);
  }

  /**
   * Bytes received but not yet part of a returned message. After an SSLRequest the proxy must
   * see 0 here before it starts TLS (CVE-2021-23214); push already throws when such bytes
   * arrived in the same chunk as the request.
   */
  get bufferedBytes(): number {
    return this.framer.bufferedBytes;
  }

  /**
   * Feeds bytes and returns every message they complete, in order. The chunk must not be
   * modified afterwards, since `raw` may be a view of it. Throws ProtocolError.
   */
  push(chunk: Buffer): FrontendMessage[] {
    if (this.failure !== undefined) throw this.failure;
    try {
      return this.parse(chunk);
    } catch (error) {
      if (error instanceof ProtocolError) this.failure = error;
      throw error;
    }
  }

  private parse(chunk: Buffer): FrontendMessage[] {
    this.framer.feed(chunk);
    const messages: FrontendMessage[] = [];
    for (;;) {
      if (this.phase === 'ended') {
        if (this.framer.bufferedBytes > 0) {
          throw new ProtocolError('UNEXPECTED_MESSAGE', 'bytes after the last message of the connection');
        }
        return messages;
      }
      const inStartup = this.phase === 'startup';
      const raw = inStartup
        ? this.framer.next(STARTUP_HEADER_BYTES, this.measureStartupPacket)
        : this.framer.next(TYPED_HEADER_BYTES, this.measureTypedMessage);
      if (raw === undefined) return messages;
      messages.push(inStartup ? this.decodeStartupPacket(raw) : this.decodeTypedMessage(raw));
    }
  }

  private readonly measureStartupPacket = (header: Buffer): number => {
    const length = header.readInt32BE(0);
    if (length < 8) {
      throw new ProtocolError('MALFORMED_MESSAGE', `invalid startup packet length ${length}`);
    }
    if (length - 4 > this.maxStartupBytes) {
      throw new ProtocolError(
        'MESSAGE_TOO_LARGE',
        `startup packet of ${length - 4} bytes exceeds the limit of ${this.maxStartupBytes}`,
      );
    }
    return length;
  };

  private readonly measureTypedMessage = (header: Buffer): number => {
    const code = header[0] as number;
    const limit = this.typedLimits.get(code);
    if (limit === undefined) {
      throw new ProtocolError('UNKNOWN_MESSAGE', `unknown frontend message type ${describeTypeByte(code)}`);
    }
    const length = header.readInt32BE(1);
    if (length < 4) {
      throw new ProtocolError('MALFORMED_MESSAGE', `invalid message length ${length}`);
    }
    if (length > limit) {
      throw new ProtocolError(
        'MESSAGE_TOO_LARGE',
        `message ${describeTypeByte(code)} of ${length} bytes exceeds the limit of ${limit}`,
      );
    }
    return length + 1;
  };

  private decodeStartupPacket(raw: Buffer): FrontendMessage {
    const code = raw.readUInt32BE(4);
    switch (code) {
      case StartupCode.sslRequest:
        this.acceptEncryptionRequest('sslRequest', raw);
        return { name: 'sslRequest', raw };
      case StartupCode.gssEncRequest:
        this.acceptEncryptionRequest('gssEncRequest', raw);
        return { name: 'gssEncRequest', raw };
      case StartupCode.cancelRequest:
        this.phase = 'ended';
        return decodeCancelRequest(raw);
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    if (major === NEGOTIATION_MAJOR_VERSION) {
      throw new ProtocolError('UNKNOWN_MESSAGE', `unknown startup request code ${major}.${minor}`);
    }
    // Any 3.x is a valid start: the server answers a newer minor with NegotiateProtocolVersion.
    if (major !== 3) {
      throw new ProtocolError('UNSUPPORTED_PROTOCOL_VERSION', `unsupported protocol ${major}.${minor}`);
    }
    const message = decodeStartupMessage(raw, code);
    this.phase = 'typed';
    return message;
  }

  /** Each request may come once per connection (PostgreSQL's ssl_done and gss_done). */
  private acceptEncryptionRequest(name: 'sslRequest' | 'gssEncRequest', raw: Buffer): void {
    if (raw.length !== 8) {
      throw new ProtocolError('MALFORMED_MESSAGE', `${name} must be 8 bytes, got ${raw.length}`);
    }
    if (this.encryptionRequests.has(name)) {
      throw new ProtocolError('UNEXPECTED_MESSAGE', `second ${name} on one connection`);
    }
    this.encryptionRequests.add(name);
    // The client must wait for the one-byte answer; bytes already here were sent unencrypted
    // and may have been injected by a man in the middle (CVE-2021-23214).
    if (this.framer.bufferedBytes > 0) {
      throw new ProtocolError('BYTES_AFTER_SSL_REQUEST', `unencrypted bytes received after ${name}`);
    }
  }

  private decodeTypedMessage(raw: Buffer): FrontendMessage {
    switch (raw[0]) {
      case FrontendCode.query:
        return decodeQuery(raw);
      case FrontendCode.password:
        return { name: 'password', data: raw.subarray(TYPED_HEADER_BYTES), raw };
      case FrontendCode.parse:
        return decodeParse(raw);
      case FrontendCode.bind:
        return decodeBind(raw);
      case FrontendCode.describe:
        return { name: 'describe', ...decodeTargetAndName(raw, 'Describe'), raw };
      case FrontendCode.execute:
        return decodeExecute(raw);
      case FrontendCode.close:
        return { name: 'close', ...decodeTargetAndName(raw, 'Close'), raw };
      case FrontendCode.sync:
        expectEmpty(raw, 'Sync');
        return { name: 'sync', raw };
      case FrontendCode.flush:
        expectEmpty(raw, 'Flush');
        return { name: 'flush', raw };
      case FrontendCode.terminate:
        expectEmpty(raw, 'Terminate');
        this.phase = 'ended';
        return { name: 'terminate', raw };
      case FrontendCode.functionCall:
        return decodeFunctionCall(raw);
      case FrontendCode.copyData:
        return { name: 'copyData', data: raw.subarray(TYPED_HEADER_BYTES), raw };
      case FrontendCode.copyDone:
        expectEmpty(raw, 'CopyDone');
        return { name: 'copyDone', raw };
      case FrontendCode.copyFail:
        return decodeCopyFail(raw);
      default:
        // measureTypedMessage admits only the codes above.
        throw new Error(`no decoder for frontend message type ${describeTypeByte(raw[0] as number)}`);
    }
  }
}

/** The password of a PasswordMessage (cleartext authentication): one string filling the body. */
export function decodePasswordMessage(message: FrontendMessageOf<'password'>): string {
  const reader = new BufferReader(message.data, 0, 'PasswordMessage');
  const password = reader.cstring();
  reader.expectEnd();
  return password;
}

function decodeStartupMessage(raw: Buffer, protocolVersion: number): FrontendMessage {
  const reader = new BufferReader(raw, 8, 'StartupMessage');
  const parameters: Record<string, string> = Object.create(null);
  for (;;) {
    const key = reader.cstring();
    if (key === '') break;
    // PostgreSQL lets a repeated key override the first; a proxy that checked the first
    // would be fooled, so a repeat is refused.
    if (Object.hasOwn(parameters, key)) {
      throw new ProtocolError('MALFORMED_MESSAGE', 'StartupMessage: repeated parameter');
    }
    parameters[key] = reader.cstring();
  }
  reader.expectEnd();
  return { name: 'startup', protocolVersion, parameters, raw };
}

function decodeCancelRequest(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, 8, 'CancelRequest');
  const processId = reader.int32();
  const secretKey = reader.rest();
  if (secretKey.length < CANCEL_KEY_BYTES.min || secretKey.length > CANCEL_KEY_BYTES.max) {
    throw new ProtocolError('MALFORMED_MESSAGE', `CancelRequest: secret key of ${secretKey.length} bytes`);
  }
  return { name: 'cancelRequest', processId, secretKey, raw };
}

function decodeQuery(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'Query');
  const text = reader.cstring();
  reader.expectEnd();
  return { name: 'query', text, raw };
}

function decodeParse(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'Parse');
  const statement = reader.cstring();
  const text = reader.cstring();
  const count = reader.uint16();
  reader.ensureAvailable(count * 4, `${count} parameter types`);
  const paramTypes: number[] = [];
  for (let i = 0; i < count; i++) paramTypes.push(reader.uint32());
  reader.expectEnd();
  return { name: 'parse', statement, text, paramTypes, raw };
}

function decodeBind(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'Bind');
  const portal = reader.cstring();
  const statement = reader.cstring();
  const paramFormats = readFormatCodes(reader);
  const params = readValues(reader, 'parameter');
  checkFormatCount(paramFormats.length, params.length, 'Bind', 'parameter');
  const resultFormats = readFormatCodes(reader);
  reader.expectEnd();
  return { name: 'bind', portal, statement, paramFormats, params, resultFormats, raw };
}

function decodeExecute(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'Execute');
  const portal = reader.cstring();
  const maxRows = reader.int32();
  reader.expectEnd();
  return { name: 'execute', portal, maxRows, raw };
}

function decodeTargetAndName(
  raw: Buffer,
  context: string,
): { target: 'S' | 'P'; objectName: string } {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, context);
  const target = String.fromCharCode(reader.byte());
  if (target !== 'S' && target !== 'P') {
    throw new ProtocolError('MALFORMED_MESSAGE', `${context}: target must be 'S' or 'P'`);
  }
  const objectName = reader.cstring();
  reader.expectEnd();
  return { target, objectName };
}

function decodeFunctionCall(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'FunctionCall');
  const functionOid = reader.uint32();
  const argFormats = readFormatCodes(reader);
  const args = readValues(reader, 'argument');
  checkFormatCount(argFormats.length, args.length, 'FunctionCall', 'argument');
  const resultFormat = reader.int16();
  reader.expectEnd();
  return { name: 'functionCall', functionOid, argFormats, args, resultFormat, raw };
}

function decodeCopyFail(raw: Buffer): FrontendMessage {
  const reader = new BufferReader(raw, TYPED_HEADER_BYTES, 'CopyFail');
  const message = reader.cstring();
  reader.expectEnd();
  return { name: 'copyFail', message, raw };
}

function expectEmpty(raw: Buffer, context: string): void {
  new BufferReader(raw, TYPED_HEADER_BYTES, context).expectEnd();
}

function readFormatCodes(reader: BufferReader): number[] {
  const count = reader.uint16();
  reader.ensureAvailable(count * 2, `${count} format codes`);
  const codes: number[] = [];
  for (let i = 0; i < count; i++) codes.push(reader.int16());
  return codes;
}

/** Int16 count, then per value an Int32 length (-1 for NULL) and that many bytes. */
function readValues(reader: BufferReader, what: string): (Buffer | null)[] {
  const count = reader.uint16();
  reader.ensureAvailable(count * 4, `${count} ${what} lengths`);
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.int32();
    if (length === -1) {
      values.push(null);
    } else if (length < 0) {
      throw new ProtocolError('MALFORMED_MESSAGE', `invalid ${what} length ${length}`);
    } else {
      values.push(reader.bytes(length));
    }
  }
  return values;
}

/** As in PostgreSQL: no format code, one for all values, or exactly one per value. */
function checkFormatCount(formats: number, values: number, context: string, what: string): void {
  if (formats > 1 && formats !== values) {
    throw new ProtocolError(
      'MALFORMED_MESSAGE',
      `${context}: ${formats} ${what} format codes for ${values} ${what}s`,
    );
  }
}
