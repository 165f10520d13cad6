import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './errors.js';

/**
 * A cursor over one message. Every read checks the bounds first and throws a ProtocolError
 * instead of returning garbage, so a lying count or length inside a message cannot make the
 * parser read past it. Slices are views of the message, not copies.
 */
export class BufferReader {
  private offset: number;

  /** `context` names the message in error texts; the texts never quote message contents. */
  constructor(
    private readonly buffer: Buffer,
    offset = 0,
    private readonly context = 'message',
  ) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  byte(): number {
    this.ensureAvailable(1, 'a byte');
    return this.buffer[this.offset++] as number;
  }

  int16(): number {
    this.ensureAvailable(2, 'an int16');
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  /** Counts in the protocol are Int16 on the wire but PostgreSQL reads them as unsigned. */
  uint16(): number {
    this.ensureAvailable(2, 'an int16');
    const value = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.ensureAvailable(4, 'an int32');
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** Object identifiers (OIDs) are unsigned 32-bit. */
  uint32(): number {
    this.ensureAvailable(4, 'an int32');
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A NUL-terminated string that must be valid UTF-8. */
  cstring(): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end === -1) {
      throw new ProtocolError('MALFORMED_MESSAGE', `${this.context}: unterminated string`);
    }
    const start = this.offset;
    this.offset = end + 1;
    return this.decode(start, end);
  }

  bytes(length: number): Buffer {
    this.ensureAvailable(length, `${length} bytes`);
    const slice = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  /** Everything up to the end of the message. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** PostgreSQL rejects bytes left over after the last field (pq_getmsgend); so do we. */
  expectEnd(): void {
    if (this.remaining !== 0) {
      throw new ProtocolError(
        'MALFORMED_MESSAGE',
        `${this.context}: ${this.remaining} unexpected bytes after the last field`,
      );
    }
  }

  private decode(start: number, end: number): string {
    const bytes = this.buffer.subarray(start, end);
    if (!isUtf8(bytes)) {
      throw new ProtocolError('INVALID_ENCODING', `${this.context}: string is not valid UTF-8`);
    }
    return bytes.toString('utf8');
  }

  /** Also used to fail early when a count announces more items than the message can hold. */
  ensureAvailable(length: number, what: string): void {
    if (length < 0 || length > this.remaining) {
      throw new ProtocolError(
        'MALFORMED_MESSAGE',
        `${this.context}: needs ${what} at offset ${this.offset} but only ${this.remaining} bytes remain`,
      );
    }
  }
}
