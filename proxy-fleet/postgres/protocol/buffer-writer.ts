/** Room kept at the front of the buffer for the type byte and the int32 length. */
const HEADER_BYTES = 5;
const MAX_MESSAGE_LENGTH = 0x7fffffff;

/**
 * Builds one message body, then `flush` prefixes the header. Every value is range-checked:
 * a silently wrapped count or a NUL inside a string would corrupt the framing for the peer.
 */
export class BufferWriter {
  private buffer: Buffer;
  private offset = HEADER_BYTES;

  constructor(private readonly initialSize = 256) {
    this.buffer = Buffer.allocUnsafe(Math.max(initialSize, HEADER_BYTES));
  }

  /** Accepts both signed (format codes) and unsigned (counts) 16-bit values. */
  addInt16(value: number): this {
    checkInteger(value, -0x8000, 0xffff, 'an int16');
    this.ensure(2);
    this.buffer.writeUInt16BE(value & 0xffff, this.offset);
    this.offset += 2;
    return this;
  }

  /** Accepts both signed (lengths, -1 for NULL) and unsigned (OIDs) 32-bit values. */
  addInt32(value: number): this {
    checkInteger(value, -0x80000000, 0xffffffff, 'an int32');
    this.ensure(4);
    this.buffer.writeUInt32BE(value >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  addByte(value: number): this {
    checkInteger(value, 0, 0xff, 'a byte');
    this.ensure(1);
    this.buffer[this.offset++] = value;
    return this;
  }

  /** A NUL-terminated UTF-8 string; a NUL inside it would end the field early, so it throws. */
  addCString(value: string): this {
    if (value.includes('\0')) throw new RangeError('a protocol string cannot contain NUL');
    this.addString(value);
    return this.addByte(0);
  }

  /** UTF-8 bytes with no terminator. */
  addString(value: string): this {
    const length = Buffer.byteLength(value, 'utf8');
    this.ensure(length);
    this.buffer.write(value, this.offset, length, 'utf8');
    this.offset += length;
    return this;
  }

  addBytes(value: Uint8Array): this {
    this.ensure(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
    return this;
  }

  /**
   * Returns the finished message: the type byte when `code` is given (startup-phase packets
   * have none), the int32 length counting itself and the body, then the body. The writer
   * starts over on a fresh buffer, so the returned bytes are never overwritten.
   */
  flush(code?: number): Buffer {
    const length = this.offset - 1;
    if (length > MAX_MESSAGE_LENGTH) throw new RangeError('message exceeds the int32 length field');
    this.buffer.writeInt32BE(length, 1);
    let start = 1;
    if (code !== undefined) {
      checkInteger(code, 0, 0xff, 'a type byte');
      this.buffer[0] = code;
      start = 0;
    }
    const message = this.buffer.subarray(start, this.offset);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialSize, HEADER_BYTES));
    this.offset = HEADER_BYTES;
    return message;
  }

  private ensure(size: number): void {
    const needed = this.offset + size;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
}

function checkInteger(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${value} does not fit in ${what}`);
  }
}
