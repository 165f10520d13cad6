/**
 * Reads V8 CPU profiles (the .cpuprofile files that `node --cpu-prof` writes) and sorts their samples
 * into the parts of Warden's data path, by the file each sampled function comes from. Time in a
 * function without a file (a V8 builtin such as JSON.parse, or a native binding) counts for the
 * part of the nearest caller that has one, so "JSON.parse inside the store client" is store
 * client time.
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds on the monotonic clock, which process.hrtime reads too. */
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

export interface ProfileSummary {
  /** Sampled CPU time, idle excluded. */
  readonly busyMs: number;
  /** Self time per part of the data path. */
  readonly parts: Readonly<Record<string, number>>;
  readonly topFunctions: readonly { readonly name: string; readonly part: string; readonly selfMs: number }[];
}

// First match wins: the specific modules before the folders that hold them.
const PARTS: readonly (readonly [string, RegExp])[] = [
  ['store client (AWS SDK)', /node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//],
  ['store (embedded dynalite)', /node_modules\/(dynalite|lazy|big\.js|[a-z-]*level[a-z-]*|abstract-level)\/|dynalite-worker/],
  ['SQL parser (libpg-query)', /node_modules\/(libpg-query|@pgsql)\//],
  ['SSH protocol and crypto (ssh2)', /node_modules\/ssh2\//],
  ['Cedar policy (cedar-wasm)', /node_modules\/@cedar-policy\//],
  ['config and API validation (zod)', /node_modules\/zod\//],
  ['TypeScript loader (tsx)', /node_modules\/(tsx|esbuild)\//],
  ['ledger integration (tree, tiles, checkpoints)', /\/functions\/lib\/(integrator|integrate-and-sign|checkpointer)\.ts|\/core\/ledger\/(tiles|merkle|checkpoint|signed-note)\.ts/],
  ['ledger append (sealing, group commit)', /\/functions\/lib\/(batch-writer|ledger-service)\.ts|\/core\/ledger\/entry\.ts|\/core\/canonical-json\.ts/],
  ['masking', /\/core\/masking\/|\/proxy-fleet\/(postgres\/response-masker|masking-stream)\.ts/],
  ['proxy (wire protocol, sessions)', /\/proxy-fleet\//],
  ['control plane handlers (decide, record)', /\/functions\/|\/core\//],
  ['cryptography (node:crypto, OpenSSL)', /^node:internal\/crypto\//],
  ['HTTP and sockets (node:http, net, streams)', /^node:(_http|http|https|net|stream|internal\/(streams|stream_base|http|net|timers)|_stream|events|timers)/],
  ['other Node.js internals', /^node:/],
];
const GC = 'garbage collection';
const UNATTRIBUTED = 'V8 and natives without a caller';

function partOf(url: string): string | undefined {
  // WebAssembly (the SQL parser, Cedar) has no file of its own: it counts for the module that called it.
  if (url === '' || url.startsWith('wasm://')) return undefined;
  return PARTS.find(([, pattern]) => pattern.test(url))?.[0] ?? 'other modules';
}

/** `window`: only samples taken between these two monotonic times (µs), e.g. while a load ran, not start-up. */
export function summarizeProfile(profile: CpuProfile, window?: { readonly fromUs: number; readonly toUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const partById = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = partById.get(id);
    if (known !== undefined) return known;
    const { functionName, url } = byId.get(id)!.callFrame;
    const parent = parentOf.get(id);
    const part = functionName === '(garbage collector)' ? GC : (partOf(url) ?? (parent === undefined ? UNATTRIBUTED : resolve(parent)));
    partById.set(id, part);
    return part;
  };

  const parts: Record<string, number> = {};
  const functions = new Map<string, { name: string; part: string; selfMs: number }>();
  let busyMs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') return;
    const ms = delta / 1000;
    const part = resolve(id);
    busyMs += ms;
    parts[part] = (parts[part] ?? 0) + ms;
    const { functionName, url } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(?=(cli|core|functions|proxy-fleet)\/)/, '')}`;
    const entry = functions.get(name) ?? { name, part, selfMs: 0 };
    entry.selfMs += ms;
    functions.set(name, entry);
  });
  const topFunctions = [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, 25);
  return { busyMs, parts, topFunctions };
}

/** Samples count between two monotonic times (µs), e.g. while a load ran, not during start-up. */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** The microseconds on the monotonic clock that profiles use, to set a window. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export interface ProcessProfile {
  readonly threads: readonly { readonly thread: string; readonly summary: ProfileSummary }[];
  /** CPU of all threads in the window. */
  readonly cpuMs: number;
  /** CPU per part of the data path, all threads, largest first. */
  readonly parts: readonly (readonly [string, number])[];
}

/** Every thread's profile of process `pid` in `dir` (Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile). */
export async function readProcessProfile(dir: string, pid: number, window: ProfileWindow): Promise<ProcessProfile> {
  const files = (await readdir(dir)).filter((name) => name.split('.')[3] === String(pid)).sort();
  if (files.length === 0) throw new Error(`no CPU profile of pid ${pid} in ${dir}`);
  const threads: { thread: string; summary: ProfileSummary }[] = [];
  for (const name of files) {
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    threads.push({ thread: `thread ${name.split('.')[4]}`, summary: summarizeProfile(profile, window) });
  }
  const parts = new Map<string, number>();
  for (const { summary } of threads) for (const [part, ms] of Object.entries(summary.parts)) parts.set(part, (parts.get(part) ?? 0) + ms);
  return { threads, cpuMs: threads.reduce((sum, { summary }) => sum + summary.busyMs, 0), parts: [...parts].sort((a, b) => b[1] - a[1]) };
}

/** Prints CPU per part, as a share and per unit of work (`per`: e.g. µs per transaction), then each thread's top functions. */
export function printProcessProfile({ threads, cpuMs, parts }: ProcessProfile, per: { readonly label: string; readonly of: (ms: number) => number }): void {
  console.log(`${'part of the data path'.padEnd(44)}${'CPU ms'.padStart(9)}${'share'.padStart(8)}${per.label.padStart(10)}`);
  for (const [part, ms] of parts) console.log(`${part.padEnd(44)}${ms.toFixed(0).padStart(9)}${`${((100 * ms) / cpuMs).toFixed(1)}%`.padStart(8)}${per.of(ms).toFixed(0).padStart(10)}`);
  for (const { thread, summary } of threads) {
    console.log(`\n${thread}: ${summary.busyMs.toFixed(0)} ms busy; top functions by self time`);
    for (const fn of summary.topFunctions.slice(0, 12)) console.log(`  ${fn.selfMs.toFixed(0).padStart(7)} ms  ${fn.part.padEnd(30)} ${fn.name}`);
  }
}
