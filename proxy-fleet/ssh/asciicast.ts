/**
 * Interactive SSH sessions recorded in asciicast v2, the asciinema file format
 * (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header object on the first line,
 * then one `[time, code, data]` array per line.
 *
 * Events are appended in call order by one write loop; the SHA-256 is taken over each line as it
 * is queued, and queued lines are written in that same order, so the digest describes the file's
 * exact bytes without reading it back.
 *
 * Backpressure: event methods return false once at least `highWaterMark` bytes wait to be written
 * (as `stream.write` does); the caller should pause its source until `drained()` resolves. A
 * caller that keeps going regardless is stopped at `maxBufferedBytes`: the recorder fails, stops
 * accepting events, calls `onError` and `close()` rejects. It never drops an event and still
 * claims the recording is whole.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

export type AsciicastCode = 'o' | 'i' | 'r' | 'm';
export type AsciicastEvent = [time: number, code: AsciicastCode, data: string];

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp?: number;
  duration?: number;
  idle_time_limit?: number;
  command?: string;
  title?: string;
  env?: Record<string, string>;
  theme?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface RecordingSummary {
  path: string;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
  bytes: number;
  /** Event lines, not counting the header. */
  events: number;
  /** From the start of the recording to `close()`. */
  durationSeconds: number;
}

export interface RecordingHeader {
  width: number;
  height: number;
  term?: string;
  shell?: string;
  title?: string;
  /** Milliseconds since the epoch; event times are relative to it. Defaults to the clock's now. */
  startedAt?: number;
}

export interface RecorderOptions {
  /** Milliseconds since the epoch. Defaults to a monotonic wall clock. */
  now?: () => number;
  /** Queued bytes at which event methods start returning false. Default 1 MiB. */
  highWaterMark?: number;
  /** Queued bytes beyond which the recorder fails rather than queue more. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Called once, with the first write error or overflow. */
  onError?: (error: Error) => void;
}

export class AsciicastOverflowError extends Error {
  override readonly name = 'AsciicastOverflowError';
}

export class AsciicastFormatError extends Error {
  override readonly name = 'AsciicastFormatError';
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`asciicast line ${line}: ${reason}`);
  }
}

const MiB = 1024 * 1024;
const WRITE_BATCH_BYTES = MiB;

// performance.now() never steps back; anchored to timeOrigin it reads as epoch milliseconds.
const monotonicNow = (): number => performance.timeOrigin + performance.now();

export class AsciicastRecorder {
  private readonly hash: Hash = createHash('sha256');
  // One streaming decoder per code: bytes of a character split across chunks are held back until
  // the rest arrives, because each asciicast event's data must be a whole UTF-8 string.
  private readonly decoders = {
    o: new TextDecoder('utf-8', { ignoreBOM: true }),
    i: new TextDecoder('utf-8', { ignoreBOM: true }),
  };
  private readonly highWaterMark: number;
  private readonly maxBufferedBytes: number;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing: Promise<void> | undefined;
  private drainWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private bytes = 0;
  private events = 0;
  private lastTime = 0;
  private failure: Error | undefined;
  private closing: Promise<RecordingSummary> | undefined;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly startedAt: number,
    private readonly now: () => number,
    private readonly options: RecorderOptions,
  ) {
    this.highWaterMark = options.highWaterMark ?? MiB;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * MiB;
  }

  /**
   * Creates `path` (it must not exist: an existing file or symlink there is refused) with mode
   * 0600, since input can hold secrets typed at the shell, and writes the header.
   */
  static async create(path: string, header: RecordingHeader, options: RecorderOptions = {}): Promise<AsciicastRecorder> {
    assertDimensions(header.width, header.height);
    const now = options.now ?? monotonicNow;
    const startedAt = header.startedAt ?? now();
    const env: Record<string, string> = {};
    if (header.term !== undefined) env.TERM = header.term;
    if (header.shell !== undefined) env.SHELL = header.shell;
    const line: AsciicastHeader = {
      version: 2,
      width: header.width,
      height: header.height,
      timestamp: Math.floor(startedAt / 1000),
      env,
    };
    if (header.title !== undefined) line.title = header.title;

    const handle = await open(path, 'wx', 0o600);
    const recorder = new AsciicastRecorder(path, handle, startedAt, now, options);
    recorder.enqueue(JSON.stringify(line));
    return recorder;
  }

  /** Terminal output, already masked by the caller. */
  output(data: Buffer): boolean {
    return this.text('o', data);
  }

  input(data: Buffer): boolean {
    return this.text('i', data);
  }

  resize(width: number, height: number): boolean {
    assertDimensions(width, height);
    return this.event('r', `${width}x${height}`);
  }

  marker(label: string): boolean {
    return this.event('m', label);
  }

  /** Resolves once everything queued so far is written; rejects if the recorder has failed. */
  drained(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queuedBytes === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /**
   * Flushes held-back partial characters (as U+FFFD: they never completed), writes what is
   * queued, syncs and closes the file. Later calls return the same promise; events after it throw.
   */
  close(): Promise<RecordingSummary> {
    if (!this.closing) {
      if (!this.failure) {
        this.emitText('o', this.decoders.o.decode());
        this.emitText('i', this.decoders.i.decode());
      }
      this.closing = this.finish(this.elapsed());
    }
    return this.closing;
  }

  private async finish(durationSeconds: number): Promise<RecordingSummary> {
    // No event can be queued once closing, so the write loop running now is the last one.
    await this.writing;
    if (!this.failure) {
      try {
        await this.handle.datasync();
      } catch (error) {
        this.fail(asError(error));
      }
    }
    try {
      await this.handle.close();
    } catch (error) {
      this.fail(asError(error));
    }
    if (this.failure) throw this.failure;
    return {
      path: this.path,
      sha256: this.hash.digest('hex'),
      bytes: this.bytes,
      events: this.events,
      durationSeconds,
    };
  }

  private text(code: 'o' | 'i', data: Buffer): boolean {
    this.assertOpen();
    if (this.failure) return false;
    return this.emitText(code, this.decoders[code].decode(data, { stream: true }));
  }

  private emitText(code: 'o' | 'i', text: string): boolean {
    // Every byte of the chunk may be a held-back partial character: nothing to record yet.
    if (text === '') return !this.failure && this.queuedBytes < this.highWaterMark;
    return this.event(code, text);
  }

  private event(code: AsciicastCode, data: string): boolean {
    this.assertOpen();
    if (this.failure) return false;
    if (this.queuedBytes > this.maxBufferedBytes) {
      this.fail(
        new AsciicastOverflowError(
          `${this.queuedBytes} bytes of recording are waiting to be written (limit ${this.maxBufferedBytes}): ` +
            'the caller did not wait for drained()',
        ),
      );
      return false;
    }
    const event: AsciicastEvent = [this.elapsed(), code, data];
    this.events += 1;
    return this.enqueue(JSON.stringify(event));
  }

  /** Seconds since the start, to the microsecond, never less than the previous event's. */
  private elapsed(): number {
    const seconds = Math.round((this.now() - this.startedAt) * 1000) / 1e6;
    this.lastTime = Math.max(this.lastTime, seconds);
    return this.lastTime;
  }

  private enqueue(line: string): boolean {
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    this.hash.update(bytes);
    this.bytes += bytes.length;
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.writing ??= this.writeQueue();
    return this.queuedBytes < this.highWaterMark;
  }

  private async writeQueue(): Promise<void> {
    try {
      // After an overflow the queue is still written out, so the partial recording is on disk.
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        let offset = 0;
        while (offset < batch.length) {
          const { bytesWritten } = await this.handle.write(batch, offset, batch.length - offset, null);
          offset += bytesWritten;
        }
        this.queuedBytes -= batch.length;
      }
    } catch (error) {
      this.fail(asError(error));
    } finally {
      this.writing = undefined;
    }
    if (!this.failure) {
      for (const waiter of this.drainWaiters.splice(0)) waiter.resolve();
    }
  }

  private takeBatch(): Buffer {
    let count = 0;
    let size = 0;
    while (count < this.queue.length && (count === 0 || size + this.queue[count]!.length <= WRITE_BATCH_BYTES)) {
      size += this.queue[count]!.length;
      count += 1;
    }
    const taken = this.queue.splice(0, count);
    return taken.length === 1 ? taken[0]! : Buffer.concat(taken, size);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const waiter of this.drainWaiters.splice(0)) waiter.reject(error);
    this.options.onError?.(error);
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`asciicast recording ${this.path} is closed`);
  }
}

function assertDimensions(width: number, height: number): void {
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new RangeError(`terminal size must be positive integers, got ${width}x${height}`);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

const CODES: ReadonlySet<string> = new Set<AsciicastCode>(['o', 'i', 'r', 'm']);
const RESIZE = /^[1-9][0-9]*x[1-9][0-9]*$/;

/**
 * Parses an asciicast v2 file strictly: header version 2 with positive integer width and height,
 * then `[time, code, data]` events with non-decreasing times. One trailing newline is allowed;
 * any other empty line is an error. Throws AsciicastFormatError naming the 1-based line.
 */
export function parseAsciicast(text: string): { header: AsciicastHeader; events: AsciicastEvent[] } {
  const lines = text.split('\n');
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();

  const header = parseLine(lines[0] ?? '', 1);
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new AsciicastFormatError(1, 'header is not a JSON object');
  }
  const fields = header as Record<string, unknown>;
  if (fields.version !== 2) throw new AsciicastFormatError(1, `unsupported version ${JSON.stringify(fields.version)}`);
  for (const key of ['width', 'height']) {
    const value = fields[key];
    if (!Number.isInteger(value) || (value as number) <= 0) {
      throw new AsciicastFormatError(1, `header ${key} must be a positive integer`);
    }
  }
  for (const key of ['timestamp', 'duration', 'idle_time_limit']) {
    if (fields[key] !== undefined && typeof fields[key] !== 'number') {
      throw new AsciicastFormatError(1, `header ${key} must be a number`);
    }
  }
  for (const key of ['command', 'title']) {
    if (fields[key] !== undefined && typeof fields[key] !== 'string') {
      throw new AsciicastFormatError(1, `header ${key} must be a string`);
    }
  }
  if (fields.env !== undefined) {
    const env = fields.env;
    if (typeof env !== 'object' || env === null || Array.isArray(env)) {
      throw new AsciicastFormatError(1, 'header env must be an object');
    }
    if (Object.values(env).some((value) => typeof value !== 'string')) {
      throw new AsciicastFormatError(1, 'header env values must be strings');
    }
  }
  if (fields.theme !== undefined && (typeof fields.theme !== 'object' || fields.theme === null || Array.isArray(fields.theme))) {
    throw new AsciicastFormatError(1, 'header theme must be an object');
  }

  const events: AsciicastEvent[] = [];
  let previous = 0;
  for (let index = 1; index < lines.length; index += 1) {
    const number = index + 1;
    const event = parseLine(lines[index]!, number);
    if (!Array.isArray(event)) throw new AsciicastFormatError(number, 'event is not a JSON array');
    if (event.length !== 3) throw new AsciicastFormatError(number, `event has ${event.length} elements, not 3`);
    const [time, code, data] = event as unknown[];
    if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
      throw new AsciicastFormatError(number, 'event time must be a non-negative number');
    }
    if (time < previous) throw new AsciicastFormatError(number, `event time ${time} is before the previous ${previous}`);
    if (typeof code !== 'string' || !CODES.has(code)) {
      throw new AsciicastFormatError(number, `unknown event code ${JSON.stringify(code)}`);
    }
    if (typeof data !== 'string') throw new AsciicastFormatError(number, 'event data must be a string');
    if (code === 'r' && !RESIZE.test(data)) {
      throw new AsciicastFormatError(number, `resize data ${JSON.stringify(data)} is not COLSxROWS`);
    }
    previous = time;
    events.push([time, code as AsciicastCode, data]);
  }
  return { header: fields as AsciicastHeader, events };
}

function parseLine(line: string, number: number): unknown {
  if (line === '') throw new AsciicastFormatError(number, number === 1 ? 'missing header' : 'empty line');
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new AsciicastFormatError(number, `not JSON (${asError(error).message})`);
  }
}
