/**
 * A Transform that masks an SSH output stream with the session's detectors. The masker
 * holds back what could still be the start of a match (an unfinished line); an idle timer
 * lets a prompt without a newline through, so interactive shells do not stall.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Detector } from '../../core/masking/detectors.js';
import { StreamMasker } from '../../core/masking/stream-masker.js';

const IDLE_FLUSH_MS = 40;

export class MaskingStream extends Transform {
  private readonly masker: StreamMasker;
  private idle: NodeJS.Timeout | undefined;
  /** Bytes passed on to the client, after masking. */
  bytesOut = 0;

  constructor(detectors: readonly Detector[]) {
    super();
    this.masker = new StreamMasker(detectors);
  }

  /** Values masked so far, per detector; reading resets the counts. */
  takeCounts(): Record<string, number> {
    return this.masker.take();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.emitMasked(this.masker.push(chunk));
    clearTimeout(this.idle);
    if (this.masker.held > 0) this.idle = setTimeout(() => this.emitMasked(this.masker.flush()), IDLE_FLUSH_MS);
    done();
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.idle);
    this.emitMasked(this.masker.end());
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    clearTimeout(this.idle);
    done(error);
  }

  private emitMasked(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.bytesOut += bytes.length;
    this.push(bytes);
  }
}
