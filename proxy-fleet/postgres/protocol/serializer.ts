import { BufferWriter } from './buffer-writer.js';
import {
  AuthenticationKind,
  BackendCode,
  CANCEL_KEY_BYTES,
  FrontendCode,
  NEGOTIATION_ACCEPTED,
  NEGOTIATION_REFUSED,
  StartupCode,
} from './codes.js';

/** 0 text, 1 binary. */
export type FormatCode = 0 | 1;

export interface ErrorResponseFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC';
  /** SQLSTATE, five digits or upper-case letters. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export interface NoticeResponseFields {
  severity: 'NOTICE' | 'WARNING' | 'INFO';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
const PROTOCOL_3_MAJOR = StartupCode.protocol3_0;

/**
 * Builds protocol messages. Each call returns a fresh Buffer holding one whole message. Strings
 * with a NUL, out-of-range integers and malformed SQLSTATEs throw RangeError rather than
 * produce bytes the peer would frame differently.
 */
export const serialize = {
  // Proxy to client (backend messages).

  authenticationOk(): Buffer {
    return authentication(AuthenticationKind.ok);
  },

  authenticationCleartextPassword(): Buffer {
    return authentication(AuthenticationKind.cleartextPassword);
  },

  parameterStatus(name: string, value: string): Buffer {
    return new BufferWriter().addCString(name).addCString(value).flush(BackendCode.parameterStatus);
  },

  backendKeyData(processId: number, secretKey: Buffer): Buffer {
    checkCancelKey(secretKey);
    return new BufferWriter()
      .addInt32(processId)
      .addBytes(secretKey)
      .flush(BackendCode.backendKeyData);
  },

  readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
    return new BufferWriter().addString(status).flush(BackendCode.readyForQuery);
  },

  /** Writes severity twice: S (localizable) and V (never localized, PostgreSQL 9.6+). */
  errorResponse(fields: ErrorResponseFields): Buffer {
    return responseFields(fields).flush(BackendCode.errorResponse);
  },

  noticeResponse(fields: NoticeResponseFields): Buffer {
    return responseFields(fields).flush(BackendCode.noticeResponse);
  },

  /** The single byte that accepts an SSLRequest; the TLS handshake follows. */
  sslAccepted(): Buffer {
    return Buffer.from([NEGOTIATION_ACCEPTED]);
  },

  /** The single byte that declines an SSLRequest. */
  sslRefused(): Buffer {
    return Buffer.from([NEGOTIATION_REFUSED]);
  },

  /** The single byte that declines a GSSENCRequest. */
  gssEncRefused(): Buffer {
    return Buffer.from([NEGOTIATION_REFUSED]);
  },

  /**
   * The docs call the first field the newest minor version, but PostgreSQL sends the whole
   * version (3 << 16 | minor) and libpq rejects anything below 3.0 as a downgrade to protocol 2;
   * so the minor given here is sent the way PostgreSQL sends it.
   */
  negotiateProtocolVersion(newestMinorVersion: number, unrecognizedOptions: string[]): Buffer {
    if (!Number.isInteger(newestMinorVersion) || newestMinorVersion < 0 || newestMinorVersion > 0xffff) {
      throw new RangeError('a minor protocol version fits in 16 bits');
    }
    const writer = new BufferWriter()
      .addInt32(PROTOCOL_3_MAJOR | newestMinorVersion)
      .addInt32(unrecognizedOptions.length);
    for (const option of unrecognizedOptions) writer.addCString(option);
    return writer.flush(BackendCode.negotiateProtocolVersion);
  },

  // Proxy to server, and tests acting as a client (frontend messages).

  startup(parameters: Record<string, string>, protocolVersion: number = StartupCode.protocol3_0): Buffer {
    const writer = new BufferWriter().addInt32(protocolVersion);
    for (const [key, value] of Object.entries(parameters)) {
      if (key === '') throw new RangeError('a startup parameter needs a name');
      writer.addCString(key).addCString(value);
    }
    return writer.addByte(0).flush();
  },

  sslRequest(): Buffer {
    return new BufferWriter().addInt32(StartupCode.sslRequest).flush();
  },

  gssEncRequest(): Buffer {
    return new BufferWriter().addInt32(StartupCode.gssEncRequest).flush();
  },

  cancelRequest(processId: number, secretKey: Buffer): Buffer {
    checkCancelKey(secretKey);
    return new BufferWriter()
      .addInt32(StartupCode.cancelRequest)
      .addInt32(processId)
      .addBytes(secretKey)
      .flush();
  },

  password(text: string): Buffer {
    return new BufferWriter().addCString(text).flush(FrontendCode.password);
  },

  saslInitialResponse(mechanism: string, data: Buffer): Buffer {
    return new BufferWriter()
      .addCString(mechanism)
      .addInt32(data.length)
      .addBytes(data)
      .flush(FrontendCode.password);
  },

  saslResponse(data: Buffer): Buffer {
    return new BufferWriter().addBytes(data).flush(FrontendCode.password);
  },

  query(text: string): Buffer {
    return new BufferWriter().addCString(text).flush(FrontendCode.query);
  },

  parse(statement: string, text: string, paramTypes: number[] = []): Buffer {
    const writer = new BufferWriter().addCString(statement).addCString(text).addInt16(paramTypes.length);
    for (const oid of paramTypes) writer.addInt32(oid);
    return writer.flush(FrontendCode.parse);
  },

  /** Parameters and results default to text format (no format codes sent). */
  bind(
    portal: string,
    statement: string,
    params: (Buffer | null)[],
    formats: { params?: FormatCode[]; results?: FormatCode[] } = {},
  ): Buffer {
    const writer = new BufferWriter().addCString(portal).addCString(statement);
    addFormatCodes(writer, formats.params ?? []);
    addValues(writer, params);
    addFormatCodes(writer, formats.results ?? []);
    return writer.flush(FrontendCode.bind);
  },

  describe(target: 'S' | 'P', name: string): Buffer {
    return new BufferWriter().addString(target).addCString(name).flush(FrontendCode.describe);
  },

  /** maxRows 0 fetches every row. */
  execute(portal: string, maxRows = 0): Buffer {
    return new BufferWriter().addCString(portal).addInt32(maxRows).flush(FrontendCode.execute);
  },

  close(target: 'S' | 'P', name: string): Buffer {
    return new BufferWriter().addString(target).addCString(name).flush(FrontendCode.close);
  },

  sync(): Buffer {
    return new BufferWriter().flush(FrontendCode.sync);
  },

  flush(): Buffer {
    return new BufferWriter().flush(FrontendCode.flush);
  },

  terminate(): Buffer {
    return new BufferWriter().flush(FrontendCode.terminate);
  },

  /** Arguments and result default to text format. */
  functionCall(
    functionOid: number,
    args: (Buffer | null)[],
    formats: { args?: FormatCode[]; result?: FormatCode } = {},
  ): Buffer {
    const writer = new BufferWriter().addInt32(functionOid);
    addFormatCodes(writer, formats.args ?? []);
    addValues(writer, args);
    return writer.addInt16(formats.result ?? 0).flush(FrontendCode.functionCall);
  },

  copyData(data: Buffer): Buffer {
    return new BufferWriter().addBytes(data).flush(FrontendCode.copyData);
  },

  copyDone(): Buffer {
    return new BufferWriter().flush(FrontendCode.copyDone);
  },

  copyFail(message: string): Buffer {
    return new BufferWriter().addCString(message).flush(FrontendCode.copyFail);
  },
};

function authentication(kind: number): Buffer {
  return new BufferWriter().addInt32(kind).flush(BackendCode.authentication);
}

function responseFields(fields: ErrorResponseFields | NoticeResponseFields): BufferWriter {
  if (!SQLSTATE.test(fields.code)) throw new RangeError('SQLSTATE must be 5 digits or capitals');
  const writer = new BufferWriter()
    .addString('S')
    .addCString(fields.severity)
    .addString('V')
    .addCString(fields.severity)
    .addString('C')
    .addCString(fields.code)
    .addString('M')
    .addCString(fields.message);
  if (fields.detail !== undefined) writer.addString('D').addCString(fields.detail);
  if (fields.hint !== undefined) writer.addString('H').addCString(fields.hint);
  return writer.addByte(0);
}

function addFormatCodes(writer: BufferWriter, codes: FormatCode[]): void {
  writer.addInt16(codes.length);
  for (const code of codes) writer.addInt16(code);
}

function addValues(writer: BufferWriter, values: (Buffer | null)[]): void {
  writer.addInt16(values.length);
  for (const value of values) {
    if (value === null) writer.addInt32(-1);
    else writer.addInt32(value.length).addBytes(value);
  }
}

function checkCancelKey(secretKey: Buffer): void {
  if (secretKey.length < CANCEL_KEY_BYTES.min || secretKey.length > CANCEL_KEY_BYTES.max) {
    throw new RangeError(`a cancel key is ${CANCEL_KEY_BYTES.min} to ${CANCEL_KEY_BYTES.max} bytes`);
  }
}
