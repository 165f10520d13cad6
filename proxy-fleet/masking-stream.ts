/**
 * Masking of live output (SSH channels, pod logs, exec channels) with the session's detectors.
 * The masker holds back what could still be the start of a match (an unfinished line); an idle
 * timer lets a prompt without a newline through, so interactive sessions do not stall.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Detector } from '../core/masking/detectors.js';
import { StreamMasker } from '../core/masking/stream-masker.js';

const IDLE_FLUSH_MS = 40;

/** Pushes masked bytes to `emit` as they become safe to pass on; `flush` and `end` are synchronous. */
export class LiveMasker {
  private readonly masker: StreamMasker;
  private idle: NodeJS.Timeout | undefined;
  /** Bytes passed on, after masking. */
  bytesOut = 0;

  constructor(
    detectors: readonly Detector[],
    private readonly emit: (bytes: Buffer) => void,
  ) {
    this.masker = new StreamMasker(detectors);
  }

  push(chunk: Buffer): void {
    this.send(this.masker.push(chunk));
    clearTimeout(this.idle);
    if (this.masker.held > 0) this.idle = setTimeout(() => this.send(this.masker.flush()), IDLE_FLUSH_MS);
  }

  /** Passes on what is held now (before a message that must come after it). */
  flush(): void {
    clearTimeout(this.idle);
    this.send(this.masker.flush());
  }

  end(): void {
    clearTimeout(this.idle);
    this.send(this.masker.end());
  }

  /** Stops the idle timer without passing anything on (the stream was torn down). */
  discard(): void {
    clearTimeout(this.idle);
  }

  /** Values masked so far, per detector; reading resets the counts. */
  takeCounts(): Record<string, number> {
    return this.masker.take();
  }

  private send(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.bytesOut += bytes.length;
    this.emit(bytes);
  }
}

/** LiveMasker as a Transform, for piping. */
export class MaskingStream extends Transform {
  private readonly masker: LiveMasker;

  constructor(detectors: readonly Detector[]) {
    super();
    this.masker = new LiveMasker(detectors, (bytes) => this.push(bytes));
  }

  get bytesOut(): number {
    return this.masker.bytesOut;
  }

  takeCounts(): Record<string, number> {
    return this.masker.takeCounts();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.masker.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.masker.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.masker.discard();
    done(error);
  }
}
