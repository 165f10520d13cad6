/**
 * Reads a V8 CPU profile (the .cpuprofile that `node --cpu-prof` writes) and sorts its samples
 * into the parts of Warden's data path, by the file each sampled function comes from. Time in a
 * function without a file (a V8 builtin such as JSON.parse, or a native binding) counts for the
 * part of the nearest caller that has one, so "JSON.parse inside the store client" is store
 * client time.
 */

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
  ['Cedar policy (cedar-wasm)', /node_modules\/@cedar-policy\//],
  ['config and API validation (zod)', /node_modules\/zod\//],
  ['TypeScript loader (tsx)', /node_modules\/(tsx|esbuild)\//],
  ['ledger integration (tree, tiles, checkpoints)', /\/functions\/lib\/(integrator|integrate-and-sign|checkpointer)\.ts|\/core\/ledger\/(tiles|merkle|checkpoint|signed-note)\.ts/],
  ['ledger append (sealing, group commit)', /\/functions\/lib\/(batch-writer|ledger-service)\.ts|\/core\/ledger\/entry\.ts|\/core\/canonical-json\.ts/],
  ['masking', /\/core\/masking\/|\/proxy-fleet\/(postgres\/response-masker|masking-stream)\.ts/],
  ['proxy (wire protocol, sessions)', /\/proxy-fleet\//],
  ['control plane handlers (decide, record)', /\/functions\/|\/core\//],
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
