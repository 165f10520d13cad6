/** Samples a process's resident set size (VmRSS in /proc/<pid>/status, Linux) at a fixed interval. */
import { readFileSync } from 'node:fs';

export interface RssSample {
  /** Milliseconds since sampling started. */
  readonly at: number;
  readonly bytes: number;
}

export const MiB = 1024 * 1024;

export function readRssBytes(pid: number): number {
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kilobytes === undefined) throw new Error(`/proc/${pid}/status has no VmRSS line: is the process still running?`);
  return Number(kilobytes) * 1024;
}

export interface RssSampler {
  /** Stops sampling and returns every sample taken, in order. */
  stop(): RssSample[];
}

export function sampleRss(pid: number, intervalMs: number): RssSampler {
  const started = Date.now();
  const samples: RssSample[] = [{ at: 0, bytes: readRssBytes(pid) }];
  const timer = setInterval(() => samples.push({ at: Date.now() - started, bytes: readRssBytes(pid) }), intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
