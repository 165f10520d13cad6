/**
 * Moves a finished recording off the proxy (WARDEN_RECORDINGS=upload): in AWS a task's disk does
 * not outlive the task, and the recording is evidence. The control plane signs a PUT into the
 * evidence bucket bound to the recording's SHA-256 and size; the proxy sends the file and, once
 * S3 has it, removes its own copy. A recording that cannot be moved stays on disk under its own
 * name and is reported by path, so nothing recorded is dropped.
 */
import { readFile, rm } from 'node:fs/promises';
import type { RecordingUploadRequest, RecordingUploadResponse } from '../../core/contract.js';
import type { RecordingSummary } from './asciicast.js';

export interface RecordingUploadDeps {
  readonly target: (request: RecordingUploadRequest) => Promise<RecordingUploadResponse>;
  readonly log: (event: Record<string, unknown>) => void;
  /** Waits before the next attempt; replaced in tests. */
  readonly pause?: (ms: number) => Promise<void>;
}

/** Moves a recording, returning the path the result should record. */
export type RecordingUploader = (sessionId: string, commandId: number, summary: RecordingSummary) => Promise<string>;

const ATTEMPTS = 4;

export function recordingUploader({ target, log, pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms)) }: RecordingUploadDeps): RecordingUploader {
  return async (sessionId, commandId, summary) => {
    let lastError = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      try {
        const upload = await target({ sessionId, commandId, sha256: summary.sha256, bytes: summary.bytes });
        const response = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: await readFile(summary.path), signal: AbortSignal.timeout(120_000) });
        // 412: an earlier attempt's PUT landed though its answer was lost (If-None-Match: *); readers check the SHA-256.
        if (!response.ok && response.status !== 412) throw new Error(`the evidence bucket answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
        await rm(summary.path, { force: true });
        return upload.name;
      } catch (error) {
        lastError = (error as Error).message;
        if (attempt < ATTEMPTS) await pause(250 * 2 ** attempt);
      }
    }
    log({ event: 'recording-upload-failed', sessionId, commandId, path: summary.path, error: lastError, fix: 'the recording stays on this task; copy it to the evidence bucket before the task ends' });
    return summary.path;
  };
}
