const EMPTY = Buffer.alloc(0);
const MAX_HEADER_BYTES = 5;
/** First allocation for a message that straddles chunks; it then doubles up to the message size. */
const INITIAL_PARTIAL_BYTES = 1024;

/**
 * Validates a message header and returns the size of the whole message, header included.
 * It runs before any byte of the body is buffered, so a lying length costs no memory.
 */
export type MeasureMessage = (header: Buffer) => number;

/**
 * Cuts a byte stream into whole messages without trusting it. A message that arrives inside
 * one chunk is returned as a view of that chunk (no copy); one that straddles chunks is
 * assembled in a buffer of its own that is never reused, so every returned message stays
 * valid for as long as the caller keeps it. The assembly buffer grows with the bytes actually
 * received, not with the declared length: announcing a 64 MiB message costs nothing until the
 * bytes come.
 */
export class MessageFramer {
  private input: Buffer = EMPTY;
  private inputOffset = 0;
  private readonly header = Buffer.alloc(MAX_HEADER_BYTES);
  private headerFilled = 0;
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private partialLength = 0;

  /** Bytes received that do not yet belong to a returned message. */
  get bufferedBytes(): number {
    return this.headerFilled + this.partialFilled + (this.input.length - this.inputOffset);
  }

  /** The chunk must not be modified afterwards: returned messages may be views of it. */
  feed(chunk: Buffer): void {
    if (this.inputOffset < this.input.length) {
      throw new Error('MessageFramer.feed called before the previous chunk was consumed');
    }
    this.input = chunk;
    this.inputOffset = 0;
  }

  /** The next whole message, or undefined once the fed bytes are used up. */
  next(headerBytes: number, measure: MeasureMessage): Buffer | undefined {
    if (this.partial === null) {
      const available = this.input.length - this.inputOffset;
      if (this.headerFilled === 0 && available >= headerBytes) {
        const start = this.inputOffset;
        const header = this.input.subarray(start, start + headerBytes);
        const length = measureChecked(measure, header);
        if (available >= length) {
          this.inputOffset += length;
          return this.input.subarray(start, start + length);
        }
        this.inputOffset += headerBytes;
        this.startPartial(length, header);
      } else {
        const take = Math.min(headerBytes - this.headerFilled, available);
        this.input.copy(this.header, this.headerFilled, this.inputOffset, this.inputOffset + take);
        this.headerFilled += take;
        this.inputOffset += take;
        if (this.headerFilled < headerBytes) return undefined;
        const header = this.header.subarray(0, headerBytes);
        const length = measureChecked(measure, header);
        this.headerFilled = 0;
        this.startPartial(length, header);
      }
    }
    return this.continuePartial();
  }

  private startPartial(length: number, header: Buffer): void {
    const available = this.input.length - this.inputOffset;
    const capacity = Math.min(length, Math.max(INITIAL_PARTIAL_BYTES, header.length + available));
    this.partial = Buffer.allocUnsafe(capacity);
    header.copy(this.partial, 0);
    this.partialFilled = header.length;
    this.partialLength = length;
  }

  private continuePartial(): Buffer | undefined {
    let partial = this.partial as Buffer;
    const take = Math.min(this.partialLength - this.partialFilled, this.input.length - this.inputOffset);
    if (this.partialFilled + take > partial.length) {
      const capacity = Math.min(
        this.partialLength,
        Math.max(partial.length * 2, this.partialFilled + take),
      );
      const grown = Buffer.allocUnsafe(capacity);
      partial.copy(grown, 0, 0, this.partialFilled);
      partial = grown;
      this.partial = grown;
    }
    this.input.copy(partial, this.partialFilled, this.inputOffset, this.inputOffset + take);
    this.partialFilled += take;
    this.inputOffset += take;
    if (this.partialFilled < this.partialLength) return undefined;
    this.partial = null;
    this.partialFilled = 0;
    return partial;
  }
}

function measureChecked(measure: MeasureMessage, header: Buffer): number {
  const length = measure(header);
  if (!Number.isSafeInteger(length) || length < header.length) {
    throw new Error(`a message cannot be shorter than its ${header.length}-byte header`);
  }
  return length;
}

/** Validates a parser's size option. */
export function checkSizeLimit(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 8) {
    throw new RangeError(`${name} must be an integer of at least 8`);
  }
}
