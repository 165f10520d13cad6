/**
 * Test-only message builders: backend messages the proxy never has to build, and frames whose
 * header can lie, for hostile-input tests. Not exported from the package index.
 */
import { BufferWriter } from '../buffer-writer.js';
import { AuthenticationKind, BackendCode } from '../codes.js';

export interface RowDescriptionField {
  name: string;
  tableOid: number;
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: 0 | 1;
}

/** Bytes built with a BufferWriter, without any header: for message bodies. */
export function bodyOf(build: (writer: BufferWriter) => unknown): Buffer {
  const writer = new BufferWriter();
  build(writer);
  return writer.flush().subarray(4);
}

/** A typed message; `declaredLength` overrides the length field to make it lie. */
export function typedFrame(code: number, body: Buffer = Buffer.alloc(0), declaredLength?: number): Buffer {
  const header = Buffer.alloc(5);
  header[0] = code;
  header.writeInt32BE(declaredLength ?? body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** An untyped startup-phase packet; `declaredLength` overrides the length field. */
export function startupFrame(body: Buffer, declaredLength?: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeInt32BE(declaredLength ?? body.length + 4, 0);
  return Buffer.concat([header, body]);
}

export const backendMessages = {
  authentication(kind: number, data: Buffer = Buffer.alloc(0)): Buffer {
    return new BufferWriter().addInt32(kind).addBytes(data).flush(BackendCode.authentication);
  },

  authenticationMd5Password(salt: Buffer): Buffer {
    return backendMessages.authentication(AuthenticationKind.md5Password, salt);
  },

  authenticationSasl(mechanisms: string[]): Buffer {
    return backendMessages.authentication(
      AuthenticationKind.sasl,
      bodyOf((writer) => {
        for (const mechanism of mechanisms) writer.addCString(mechanism);
        writer.addByte(0);
      }),
    );
  },

  authenticationSaslContinue(data: Buffer): Buffer {
    return backendMessages.authentication(AuthenticationKind.saslContinue, data);
  },

  authenticationSaslFinal(data: Buffer): Buffer {
    return backendMessages.authentication(AuthenticationKind.saslFinal, data);
  },

  /** Error or notice fields in any order, repeats included. */
  responseFields(code: number, fields: [string, string][]): Buffer {
    const writer = new BufferWriter();
    for (const [key, value] of fields) writer.addString(key).addCString(value);
    return writer.addByte(0).flush(code);
  },

  rowDescription(fields: RowDescriptionField[]): Buffer {
    const writer = new BufferWriter().addInt16(fields.length);
    for (const field of fields) {
      writer
        .addCString(field.name)
        .addInt32(field.tableOid)
        .addInt16(field.columnNumber)
        .addInt32(field.typeOid)
        .addInt16(field.typeSize)
        .addInt32(field.typeModifier)
        .addInt16(field.format);
    }
    return writer.flush(BackendCode.rowDescription);
  },

  dataRow(values: (Buffer | null)[]): Buffer {
    const writer = new BufferWriter().addInt16(values.length);
    for (const value of values) {
      if (value === null) writer.addInt32(-1);
      else writer.addInt32(value.length).addBytes(value);
    }
    return writer.flush(BackendCode.dataRow);
  },

  commandComplete(tag: string): Buffer {
    return new BufferWriter().addCString(tag).flush(BackendCode.commandComplete);
  },

  parameterDescription(typeOids: number[]): Buffer {
    const writer = new BufferWriter().addInt16(typeOids.length);
    for (const oid of typeOids) writer.addInt32(oid);
    return writer.flush(BackendCode.parameterDescription);
  },

  /** CopyInResponse, CopyOutResponse or CopyBothResponse. */
  copyResponse(code: number, overallFormat: 0 | 1, columnFormats: (0 | 1)[]): Buffer {
    const writer = new BufferWriter().addByte(overallFormat).addInt16(columnFormats.length);
    for (const format of columnFormats) writer.addInt16(format);
    return writer.flush(code);
  },

  copyData(data: Buffer): Buffer {
    return new BufferWriter().addBytes(data).flush(BackendCode.copyData);
  },

  notificationResponse(processId: number, channel: string, payload: string): Buffer {
    return new BufferWriter()
      .addInt32(processId)
      .addCString(channel)
      .addCString(payload)
      .flush(BackendCode.notificationResponse);
  },

  functionCallResponse(value: Buffer | null): Buffer {
    const writer = new BufferWriter();
    if (value === null) writer.addInt32(-1);
    else writer.addInt32(value.length).addBytes(value);
    return writer.flush(BackendCode.functionCallResponse);
  },

  /** Any message with an empty body: ParseComplete, BindComplete, NoData, CopyDone, ... */
  empty(code: number): Buffer {
    return new BufferWriter().flush(code);
  },
};

/**
 * A parsed message's decoded fields without `raw`, with null-prototype records turned into
 * plain objects, ready for assert.deepStrictEqual against a literal.
 */
export function decodedFields(message: { raw: Buffer }): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (key === 'raw') continue;
    const isRecord = typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === null;
    fields[key] = isRecord ? { ...value } : value;
  }
  return fields;
}
