/**
 * Masks every server message that can carry data before any byte of it reaches the client
 * (DESIGN.md, invariant 2): DataRow values, COPY OUT data, NOTIFY payloads, and the text
 * fields of ErrorResponse and NoticeResponse (a unique violation's detail quotes the value).
 *
 * A column named by a column rule is replaced whole by a neutral value of its type (or NULL
 * when the type has none). Otherwise a text-like value is masked in place ("[masked:email]"),
 * and a value of any other type that holds a detected value is replaced whole the same way,
 * so the client can still decode every column.
 */
import { maskBytesInto, mayAnyMatch } from '../../core/masking/mask-text.js';
import { scanUtf8Signals } from '../../core/masking/text-signals.js';
import type { ColumnRule } from '../../core/masking/column-rules.js';
import type { Detector } from '../../core/masking/detectors.js';
import { maskedValue } from '../../core/masking/typed-mask.js';
import { BackendCode } from './protocol/codes.js';
import { buildDataRow, dataRowValues, ProtocolError, type BackendMessage, type ColumnDescription } from './protocol/index.js';
import type { ResultTracker } from './result-tracker.js';

/** Types whose text and binary forms are the same UTF-8 text: bpchar, varchar, text, name, char, unknown, json, xml. */
const TEXT_TYPES = new Set([1042, 1043, 25, 19, 18, 705, 114, 142]);
const JSONB = 3802;
/** Error and notice fields that can quote data: message, detail, hint, context ("where"), internal query. */
const QUOTING_FIELDS = new Set(['M', 'D', 'H', 'W', 'q']);

export class ResponseMasker {
  /** Values masked per rule since the last take(); no prototype, so a rule named __proto__ is just a key. */
  private counts: Record<string, number> = Object.create(null) as Record<string, number>;
  private copyOutBinary = false;

  constructor(
    private readonly tracker: ResultTracker,
    private readonly detectors: readonly Detector[],
    /** The column rule covering a result column, if any (resolved through the catalog before its rows arrive). */
    private readonly columnRule: (column: ColumnDescription) => ColumnRule | undefined = () => undefined,
    /** Whether any column rule exists: rows of unknown shape are then withheld rather than guessed at. */
    private readonly hasColumnRules = false,
  ) {}

  /** The masking counts of the command that just finished. */
  take(): Record<string, number> {
    const counts = { ...this.counts };
    this.counts = Object.create(null) as Record<string, number>;
    return counts;
  }

  /** The bytes to send the client for this server message. */
  mask(message: BackendMessage): Buffer {
    switch (message.name) {
      case 'errorResponse':
      case 'noticeResponse':
        return this.maskFields(message.raw);
      case 'other':
        if (message.code === BackendCode.dataRow) return this.maskDataRow(message.raw);
        if (message.code === BackendCode.copyData) return this.maskCopyData(message.raw);
        if (message.code === BackendCode.notificationResponse) return this.maskNotification(message.raw);
        if (message.code === BackendCode.copyOutResponse) this.copyOutBinary = message.raw[5] === 1;
        return message.raw;
      default:
        return message.raw;
    }
  }

  private maskDataRow(raw: Buffer): Buffer {
    // Most rows hold nothing to mask: read their values' signals in place, without splitting the row.
    if (!this.hasColumnRules) {
      const signals = valueSignals(raw);
      if (signals !== undefined && !mayAnyMatch(this.detectors, signals)) return raw;
    }
    const shape = this.tracker.currentShape();
    const values = dataRowValues(raw);
    let changed = false;
    for (let i = 0; i < values.length; i += 1) {
      const value = values[i];
      if (value === null || value === undefined) continue;
      const masked = this.maskValue(value, shape?.[i]);
      if (masked !== value) {
        values[i] = masked;
        changed = true;
      }
    }
    return changed ? buildDataRow(values) : raw;
  }

  private maskValue(value: Buffer, column: ColumnDescription | undefined): Buffer | null {
    if (column === undefined && this.hasColumnRules) {
      this.add('unattributed-value', 1);
      return null;
    }
    const rule = column && this.columnRule(column);
    if (rule && column) {
      this.add(`column:${rule.id}`, 1);
      return maskedValue(column.typeOid, column.format === 1 ? 1 : 0);
    }
    const type = column?.typeOid;
    if (type === JSONB && column?.format === 1) {
      // Binary jsonb is a version byte, then the JSON text.
      const inner = this.maskBytes(value.subarray(1));
      return inner === null ? value : Buffer.concat([value.subarray(0, 1), inner]);
    }
    const found = this.maskBytes(value);
    if (found === null) return value;
    if (type === undefined || TEXT_TYPES.has(type) || type === JSONB) return found;
    return maskedValue(type, column?.format === 1 ? 1 : 0);
  }

  private maskCopyData(raw: Buffer): Buffer {
    // Text and CSV COPY send one row per CopyData; binary COPY has length-prefixed fields a text mask would break.
    if (this.copyOutBinary) throw new ProtocolError('UNEXPECTED_MESSAGE', 'binary COPY output cannot be masked; use COPY … TO STDOUT in text or CSV format');
    const data = raw.subarray(5);
    const masked = this.maskBytes(data);
    if (masked === null) return raw;
    const out = Buffer.allocUnsafe(5 + masked.length);
    out[0] = BackendCode.copyData;
    out.writeInt32BE(4 + masked.length, 1);
    masked.copy(out, 5);
    return out;
  }

  /** NotificationResponse: process id, channel, then the payload NOTIFY sent, which can carry any data. */
  private maskNotification(raw: Buffer): Buffer {
    const channelEnd = raw.indexOf(0, 9);
    const payloadEnd = channelEnd === -1 ? -1 : raw.indexOf(0, channelEnd + 1);
    if (payloadEnd === -1) throw new ProtocolError('MALFORMED_MESSAGE', 'unterminated NotificationResponse');
    const masked = this.maskBytes(raw.subarray(channelEnd + 1, payloadEnd));
    if (masked === null) return raw;
    const body = Buffer.concat([raw.subarray(5, channelEnd + 1), masked, Buffer.from([0])]);
    const out = Buffer.allocUnsafe(5 + body.length);
    out[0] = BackendCode.notificationResponse;
    out.writeInt32BE(4 + body.length, 1);
    body.copy(out, 5);
    return out;
  }

  private maskFields(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    let changed = false;
    let offset = 5;
    while (offset < raw.length && raw[offset] !== 0) {
      const end = raw.indexOf(0, offset + 1);
      if (end === -1) throw new ProtocolError('MALFORMED_MESSAGE', 'unterminated field in an error or notice');
      const code = String.fromCharCode(raw[offset]!);
      const value = raw.subarray(offset + 1, end);
      const masked = QUOTING_FIELDS.has(code) ? this.maskBytes(value) : null;
      parts.push(raw.subarray(offset, offset + 1), masked ?? value, Buffer.from([0]));
      changed ||= masked !== null;
      offset = end + 1;
    }
    if (!changed) return raw;
    const body = Buffer.concat([...parts, Buffer.from([0])]);
    const out = Buffer.allocUnsafe(5 + body.length);
    out[0] = raw[0]!;
    out.writeInt32BE(4 + body.length, 1);
    body.copy(out, 5);
    return out;
  }

  /** The detectors' mask of `bytes`, counted; null when nothing was masked. Allocates nothing for a clean value. */
  private maskBytes(bytes: Buffer): Buffer | null {
    const masked = maskBytesInto(bytes, this.detectors, this.counts);
    return masked === bytes ? null : masked;
  }

  private add(rule: string, n: number): void {
    this.counts[rule] = (this.counts[rule] ?? 0) + n;
  }
}

/**
 * The prefilter signals of every value of a DataRow, each value scanned on its own (as
 * maskBytesInto scans it), read in place; undefined for a row that is not well formed, which
 * takes the full path, where it is refused with what is wrong with it.
 */
function valueSignals(raw: Buffer): number | undefined {
  if (raw.length < 7) return undefined;
  const count = (((raw[5]! << 8) | raw[6]!) << 16) >> 16; // Int16, as dataRowValues reads it
  if (count < 0) return undefined;
  let signals = 0;
  let offset = 7;
  for (let i = 0; i < count; i += 1) {
    if (offset + 4 > raw.length) return undefined;
    // Read by hand: Buffer.readInt32BE's argument checks cost more than the scan of a short value.
    const length = (raw[offset]! << 24) | (raw[offset + 1]! << 16) | (raw[offset + 2]! << 8) | raw[offset + 3]!;
    offset += 4;
    if (length === -1) continue;
    if (length < 0 || offset + length > raw.length) return undefined;
    signals |= scanUtf8Signals(raw, offset, offset + length);
    offset += length;
  }
  return offset === raw.length ? signals : undefined;
}
