/**
 * RowDescription and DataRow, decoded only where the proxy must look inside them (masking).
 * Protocol docs, "Message Formats": RowDescription 'T', DataRow 'D'.
 */
import { BufferReader } from './buffer-reader.js';
import { BackendCode } from './codes.js';
import { ProtocolError } from './errors.js';

export interface ColumnDescription {
  readonly name: string;
  /** The table's OID, or 0 if the column is not a plain table column. */
  readonly tableOid: number;
  /** The column's attribute number in that table, or 0. */
  readonly attributeNumber: number;
  readonly typeOid: number;
  /** 0 text, 1 binary; from a Describe of a statement this is always 0 (not known yet). */
  readonly format: number;
}

export function decodeRowDescription(raw: Buffer): ColumnDescription[] {
  const reader = new BufferReader(raw, 5, 'RowDescription');
  const count = reader.int16();
  const columns: ColumnDescription[] = [];
  for (let i = 0; i < count; i += 1) {
    const name = reader.cstring();
    const tableOid = reader.uint32();
    const attributeNumber = reader.int16();
    const typeOid = reader.uint32();
    reader.int16(); // typlen
    reader.int32(); // typmod
    const format = reader.int16();
    columns.push({ name, tableOid, attributeNumber, typeOid, format });
  }
  reader.expectEnd();
  return columns;
}

/** The values of a DataRow: views into `raw` (no copy), null for SQL NULL. */
export function dataRowValues(raw: Buffer): (Buffer | null)[] {
  if (raw.length < 7) throw new ProtocolError('MALFORMED_MESSAGE', 'DataRow is too short');
  const count = raw.readInt16BE(5);
  if (count < 0) throw new ProtocolError('MALFORMED_MESSAGE', 'DataRow has a negative column count');
  const values: (Buffer | null)[] = new Array(count);
  let offset = 7;
  for (let i = 0; i < count; i += 1) {
    if (offset + 4 > raw.length) throw new ProtocolError('MALFORMED_MESSAGE', 'DataRow ends inside a value length');
    const length = raw.readInt32BE(offset);
    offset += 4;
    if (length === -1) {
      values[i] = null;
      continue;
    }
    if (length < 0 || offset + length > raw.length) throw new ProtocolError('MALFORMED_MESSAGE', 'DataRow value runs past the message');
    values[i] = raw.subarray(offset, offset + length);
    offset += length;
  }
  if (offset !== raw.length) throw new ProtocolError('MALFORMED_MESSAGE', 'DataRow has bytes after its last value');
  return values;
}

export function buildDataRow(values: readonly (Buffer | null)[]): Buffer {
  let length = 4 + 2;
  for (const value of values) length += 4 + (value?.length ?? 0);
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = BackendCode.dataRow;
  out.writeInt32BE(length, 1);
  out.writeInt16BE(values.length, 5);
  let offset = 7;
  for (const value of values) {
    if (value === null) {
      out.writeInt32BE(-1, offset);
      offset += 4;
    } else {
      out.writeInt32BE(value.length, offset);
      value.copy(out, offset + 4);
      offset += 4 + value.length;
    }
  }
  return out;
}
