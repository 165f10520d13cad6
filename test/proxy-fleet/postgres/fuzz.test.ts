/**
 * Fuzzes the PostgreSQL wire codec with the bytes an untrusted peer could send. Three targets:
 * FrontendParser in the startup phase, FrontendParser after a valid StartupMessage (typed
 * messages), and BackendParser. Inputs are valid streams built with `serialize` (every message
 * it can build, plus the test builders' backend messages) with random contents and lengths,
 * then structure-aware mutations of them (bit flips, inserted and deleted bytes, length fields
 * that lie: too small, too large, negative, huge; truncation, duplication, splicing of two
 * streams, random type bytes, strings without terminators, invalid UTF-8, ...), and random bytes.
 *
 * For every input:
 *  1. push returns messages or throws a ProtocolError, and then keeps throwing it; any other
 *     exception (TypeError, RangeError, an index error, ...) is a bug;
 *  2. each returned message's raw is exactly the next bytes of the input, so the raws of all
 *     returned messages add up to a prefix of the input;
 *  3. random chunks give the same messages (names, raw bytes, decoded fields) and the same error
 *     code as the whole input, and the error comes with the chunk that holds the byte causing it.
 *     Pushes always end where a client waits for the server's answer (after SSLRequest and
 *     GSSENCRequest): bytes after those in one push are an error by design (CVE-2021-23214);
 *  4. bufferedBytes is exactly the bytes pushed minus those returned, and no push allocates much
 *     more than the bytes received so far: an announced length of 64 MiB costs nothing;
 *  5. before mutation, every valid stream parses back to the fields it was built from.
 *
 * Each target runs for WARDEN_FUZZ_SECONDS (default 3) seconds; a long campaign:
 *
 *   WARDEN_FUZZ_SECONDS=300 node --import tsx --test test/proxy-fleet/postgres/fuzz.test.ts
 *
 * The seed is random and printed with the iteration counts; WARDEN_FUZZ_SEED=<seed> replays a
 * campaign and WARDEN_FUZZ_SEED=<seed>:<iteration> starts at one input. A failure prints the
 * property, the seed, the replay command, the input in hex and a minimized input.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  BackendParser,
  FrontendParser,
  ProtocolError,
  decodePasswordMessage,
  serialize,
  type FrontendMessageOf,
} from '../../../proxy-fleet/postgres/protocol/index.js';
import {
  Rng,
  backendFrame,
  backendStream,
  cancelRequestFrame,
  frontendStartupStream,
  frontendTypedFrame,
  frontendTypedStream,
  hugeAnnouncement,
  joinFrames,
  mixSeed,
  mutate,
  randomChunkLengths,
  randomStream,
  segmentLengths,
  startupFrame,
  type Frame,
  type Stream,
} from '../../../proxy-fleet/postgres/protocol/testing/fuzz-inputs.js';
import { decodedFields } from '../../../proxy-fleet/postgres/protocol/testing/test-buffers.js';

const TEST_FILE = 'test/proxy-fleet/postgres/fuzz.test.ts';

// ---------------------------------------------------------------------------------------------
// Settings

interface Settings {
  seconds: number;
  seed: number;
  firstIteration: number;
}

function readSettings(): Settings {
  const secondsText = process.env.WARDEN_FUZZ_SECONDS ?? '';
  const seconds = secondsText === '' ? 3 : Number(secondsText);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`WARDEN_FUZZ_SECONDS must be a number of seconds, got ${JSON.stringify(secondsText)}`);
  }
  const seedText = process.env.WARDEN_FUZZ_SEED ?? '';
  if (seedText === '') return { seconds, seed: randomInt(0x1_0000_0000), firstIteration: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(seedText);
  if (match === null || Number(match[1]) > 0xffffffff) {
    throw new Error(`WARDEN_FUZZ_SEED must be <seed> or <seed>:<iteration>, seed below 2^32; got ${JSON.stringify(seedText)}`);
  }
  return { seconds, seed: Number(match[1]), firstIteration: Number(match[2] ?? 0) };
}

const settings = readSettings();

// ---------------------------------------------------------------------------------------------
// Targets

interface Message {
  name: string;
  raw: Buffer;
}

interface Parser {
  push(chunk: Buffer): Message[];
  readonly bufferedBytes: number;
}

/** Size limits of the parser options; none means the defaults. */
interface Limits {
  maxMessageBytes?: number;
  maxStartupBytes?: number;
}

type CreateParser = () => Parser;

interface Target {
  name: string;
  create(limits?: Limits): Parser;
  valid(rng: Rng): Frame[];
  /** A message of another phase or direction, to insert among valid ones. */
  foreign(rng: Rng): Frame;
}

const greeting = serialize.startup({ user: 'fuzz', database: 'fuzz' });

const targets: readonly Target[] = [
  {
    name: 'FrontendParser, startup phase',
    create: (limits = {}) => new FrontendParser(limits),
    valid: frontendStartupStream,
    foreign: (rng) => (rng.chance(0.5) ? frontendTypedFrame(rng) : backendFrame(rng)),
  },
  {
    name: 'FrontendParser, typed messages',
    create: (limits = {}) => {
      const parser = new FrontendParser({ ...limits, maxStartupBytes: Math.max(limits.maxStartupBytes ?? 0, greeting.length) });
      assert.equal(parser.push(Buffer.from(greeting)).length, 1);
      return parser;
    },
    valid: frontendTypedStream,
    foreign: (rng) => rng.pick([startupFrame, cancelRequestFrame, backendFrame])(rng),
  },
  {
    name: 'BackendParser',
    create: (limits = {}) => new BackendParser({ maxMessageBytes: limits.maxMessageBytes }),
    valid: backendStream,
    foreign: frontendTypedFrame,
  },
];

// ---------------------------------------------------------------------------------------------
// Allocation probe: the largest Buffer the codec asks for while a push runs.

const allocationProbe = { active: false, largestInPush: 0, largestInRun: 0 };

function installAllocationProbe(): () => void {
  const { alloc, allocUnsafe, allocUnsafeSlow } = Buffer;
  const note = (size: unknown): void => {
    if (!allocationProbe.active || typeof size !== 'number') return;
    allocationProbe.largestInPush = Math.max(allocationProbe.largestInPush, size);
    allocationProbe.largestInRun = Math.max(allocationProbe.largestInRun, size);
  };
  Buffer.alloc = function (...args: Parameters<typeof alloc>) {
    note(args[0]);
    return alloc.apply(Buffer, args);
  } as typeof alloc;
  Buffer.allocUnsafe = function (size: number) {
    note(size);
    return allocUnsafe.call(Buffer, size);
  } as typeof allocUnsafe;
  Buffer.allocUnsafeSlow = function (size: number) {
    note(size);
    return allocUnsafeSlow.call(Buffer, size);
  } as typeof allocUnsafeSlow;
  return () => {
    Buffer.alloc = alloc;
    Buffer.allocUnsafe = allocUnsafe;
    Buffer.allocUnsafeSlow = allocUnsafeSlow;
  };
}

/** What a push may allocate: about twice the bytes received (growth by doubling), plus slack. */
const allocationAllowance = (received: number): number => 2 * received + 65_536;

// ---------------------------------------------------------------------------------------------
// Running a parser

type Property =
  | 'ProtocolError only'
  | 'keeps throwing'
  | 'raw bytes'
  | 'bufferedBytes'
  | 'memory'
  | 'chunking'
  | 'round trip';

class PropertyFailure extends Error {
  constructor(
    readonly property: Property,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface Outcome {
  /** Every message returned, over all pushes. */
  messages: Message[];
  /** Bytes of the input those messages span. */
  consumed: number;
  /** Offsets where a push ended right after an SSLRequest or GSSENCRequest, more input to come. */
  handshakes: number[];
  error?: { code: string; message: string; chunkStart: number; chunkEnd: number };
}

const hex = (bytes: Buffer, max = 64): string =>
  bytes.length <= max ? bytes.toString('hex') : `${bytes.subarray(0, max).toString('hex')}… (${bytes.length} bytes)`;

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : `non-Error ${String(error)}`;
}

/**
 * Pushes `input` cut into chunks of `lengths`, checking properties 1, 2 and 4 at each push (and
 * that decodePasswordMessage, which reads client bytes too, only throws ProtocolError).
 */
function run(create: CreateParser, input: Buffer, lengths: readonly number[]): Outcome {
  const parser = create();
  const messages: Message[] = [];
  const handshakes: number[] = [];
  let pushed = 0;
  let consumed = 0;
  for (const length of lengths) {
    const start = pushed;
    // A copy per chunk: the parser may keep views of it, and must not rely on one shared buffer.
    const chunk = Buffer.from(input.subarray(start, start + length));
    pushed += chunk.length;
    let returned: Message[];
    allocationProbe.largestInPush = 0;
    allocationProbe.active = true;
    try {
      returned = parser.push(chunk);
    } catch (error) {
      allocationProbe.active = false;
      if (!(error instanceof ProtocolError)) {
        throw new PropertyFailure(
          'ProtocolError only',
          `push threw ${describeError(error)} on the chunk at ${start}..${pushed}` +
            (error instanceof Error && error.stack !== undefined ? `\n${error.stack}` : ''),
          { cause: error },
        );
      }
      checkAllocation(pushed);
      checkKeepsThrowing(parser, error, input.subarray(pushed, pushed + 8));
      return {
        messages,
        consumed,
        handshakes,
        error: { code: error.code, message: error.message, chunkStart: start, chunkEnd: pushed },
      };
    } finally {
      allocationProbe.active = false;
    }
    checkAllocation(pushed);
    if (!Array.isArray(returned)) throw new PropertyFailure('raw bytes', `push returned ${String(returned)}`);
    for (const message of returned) {
      const { raw } = message;
      if (!Buffer.isBuffer(raw) || raw.length === 0 || consumed + raw.length > pushed) {
        throw new PropertyFailure(
          'raw bytes',
          `message ${messages.length} (${message.name}) has a raw of ${Buffer.isBuffer(raw) ? `${raw.length} bytes` : String(raw)} ` +
            `at offset ${consumed}, but only ${pushed} bytes were pushed`,
        );
      }
      const expected = input.subarray(consumed, consumed + raw.length);
      if (!raw.equals(expected)) {
        const differs = raw.findIndex((byte, i) => byte !== expected[i]);
        throw new PropertyFailure(
          'raw bytes',
          `message ${messages.length} (${message.name}, ${raw.length} bytes from offset ${consumed}) differs from the ` +
            `input at its byte ${differs}: ${hex(raw.subarray(differs, differs + 16))} instead of ` +
            `${hex(expected.subarray(differs, differs + 16))}`,
        );
      }
      consumed += raw.length;
      messages.push(message);
      if (message.name === 'password') checkPasswordDecoding(message as FrontendMessageOf<'password'>);
    }
    if (parser.bufferedBytes !== pushed - consumed) {
      throw new PropertyFailure(
        'bufferedBytes',
        `after ${pushed} bytes pushed and ${consumed} returned as messages, bufferedBytes is ${parser.bufferedBytes}`,
      );
    }
    const last = returned.at(-1);
    if ((last?.name === 'sslRequest' || last?.name === 'gssEncRequest') && consumed === pushed && pushed < input.length) {
      handshakes.push(pushed);
    }
  }
  return { messages, consumed, handshakes };
}

function checkAllocation(received: number): void {
  const largest = allocationProbe.largestInPush;
  if (largest > allocationAllowance(received)) {
    throw new PropertyFailure('memory', `a push allocated a buffer of ${largest} bytes when only ${received} bytes had arrived`);
  }
}

function checkKeepsThrowing(parser: Parser, first: ProtocolError, more: Buffer): void {
  for (const chunk of [Buffer.alloc(0), Buffer.from(more.length > 0 ? more : Buffer.from('Q'))]) {
    let again: unknown;
    try {
      parser.push(chunk);
    } catch (error) {
      again = error;
    }
    if (!(again instanceof ProtocolError) || again.code !== first.code) {
      throw new PropertyFailure(
        'keeps throwing',
        `after ${first.code} (${first.message}), a push of ${chunk.length} bytes ` +
          (again === undefined ? 'returned normally' : `threw ${describeError(again)}`),
      );
    }
  }
}

/** deepStrictEqual, reported as a property failure with the first differing message. */
function sameMessages(actual: readonly Message[], expected: readonly Message[], context: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch {
    const index = Array.from({ length: Math.max(actual.length, expected.length) }).findIndex((_, i) => {
      try {
        assert.deepStrictEqual(actual[i], expected[i]);
        return false;
      } catch {
        return true;
      }
    });
    const show = (message: Message | undefined): string =>
      message === undefined ? 'nothing' : `${message.name} ${hex(message.raw)} ${safeJson(decodedFields(message))}`;
    throw new PropertyFailure(
      'chunking',
      `${context}: ${actual.length} messages instead of ${expected.length}; message ${index} is ` +
        `${show(actual[index])} instead of ${show(expected[index])}`,
    );
  }
}

function safeJson(value: unknown): string {
  const text = JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' ? `<${(v as { data: number[] }).data.length} bytes>` : v,
  );
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function normalizeCuts(cuts: readonly number[], length: number): number[] {
  return [...new Set(cuts)].filter((cut) => cut > 0 && cut < length).sort((a, b) => a - b);
}

/** The shortest prefix of the input that throws when pushed whole (between the cuts). */
function firstFailingPrefix(create: CreateParser, input: Buffer, cuts: readonly number[], known: number): { length: number; code: string } {
  const outcomeOf = (length: number): Outcome =>
    run(create, input.subarray(0, length), segmentLengths(length, cuts.filter((cut) => cut < length)));
  let good = known;
  let bad = input.length;
  let code = '';
  while (bad - good > 1) {
    const middle = Math.floor((good + bad) / 2);
    if (outcomeOf(middle).error === undefined) good = middle;
    else bad = middle;
  }
  const error = outcomeOf(bad).error;
  if (error === undefined) throw new PropertyFailure('chunking', 'the whole input throws, but not when pushed again');
  code = error.code;
  return { length: bad, code };
}

/** Property 3 for one chunked run, against the input pushed whole between the same cuts. */
function compareWithWhole(create: CreateParser, input: Buffer, cuts: readonly number[], whole: Outcome, chunked: Outcome, label: string): void {
  const context = `${label} chunks against the whole input`;
  const where = (error: NonNullable<Outcome['error']>): string =>
    `${error.code} (${error.message}) on the chunk at ${error.chunkStart}..${error.chunkEnd}`;
  if (whole.error === undefined) {
    if (chunked.error !== undefined) {
      throw new PropertyFailure('chunking', `${context}: whole gives ${whole.messages.length} messages and no error, chunked throws ${where(chunked.error)}`);
    }
    sameMessages(chunked.messages, whole.messages, context);
    return;
  }
  if (chunked.error === undefined) {
    throw new PropertyFailure('chunking', `${context}: whole throws ${whole.error.code} (${whole.error.message}), chunked gives ${chunked.messages.length} messages and no error`);
  }
  if (chunked.error.code !== whole.error.code) {
    throw new PropertyFailure('chunking', `${context}: whole throws ${whole.error.code} (${whole.error.message}), chunked throws ${where(chunked.error)}`);
  }
  if (chunked.messages.length < whole.messages.length) {
    throw new PropertyFailure('chunking', `${context}: chunked returns ${chunked.messages.length} messages before the error, whole ${whole.messages.length}`);
  }
  sameMessages(chunked.messages.slice(0, whole.messages.length), whole.messages, context);
  // A whole push that throws loses the messages it completed: compare the chunked ones with what
  // the bytes they span parse to, and check the error comes with the byte that causes it.
  const spanned = input.subarray(0, chunked.consumed);
  const spannedCuts = cuts.filter((cut) => cut < chunked.consumed);
  const prefix = run(create, spanned, segmentLengths(spanned.length, spannedCuts));
  if (prefix.error !== undefined) {
    throw new PropertyFailure('chunking', `${context}: the ${spanned.length} bytes the chunked messages span throw ${prefix.error.code} when pushed whole`);
  }
  sameMessages(chunked.messages, prefix.messages, `${context} (messages before the error)`);
  const failing = firstFailingPrefix(create, input, cuts, chunked.consumed);
  if (failing.code !== whole.error.code) {
    throw new PropertyFailure('chunking', `the first ${failing.length} bytes throw ${failing.code}, the whole input ${whole.error.code}`);
  }
  if (!(chunked.error.chunkStart < failing.length && failing.length <= chunked.error.chunkEnd)) {
    throw new PropertyFailure(
      'chunking',
      `${context}: the first ${failing.length} bytes pushed whole throw ${failing.code}, chunked throws ${where(chunked.error)}`,
    );
  }
}

interface ChunkPlan {
  label: string;
  lengths: number[];
}

/** Properties 1 to 4 for one input: the whole run, then each chunked plan against it. */
function checkStream(create: CreateParser, stream: Stream, plans: readonly ChunkPlan[]): Outcome {
  const input = stream.bytes;
  const wholeRuns = new Map<string, Outcome>();
  const whole = (cuts: number[]): Outcome => {
    const key = cuts.join(',');
    let outcome = wholeRuns.get(key);
    if (outcome === undefined) {
      outcome = run(create, input, segmentLengths(input.length, cuts));
      wholeRuns.set(key, outcome);
    }
    return outcome;
  };
  const reference = whole(normalizeCuts(stream.waits, input.length));
  for (const plan of plans) {
    const chunked = run(create, input, plan.lengths);
    // A push that ends right after an SSLRequest is the client waiting for the answer.
    const cuts = normalizeCuts([...stream.waits, ...chunked.handshakes], input.length);
    compareWithWhole(create, input, cuts, whole(cuts), chunked, plan.label);
  }
  return reference;
}

/** decodePasswordMessage reads client bytes too: a string or a ProtocolError, nothing else. */
function checkPasswordDecoding(message: FrontendMessageOf<'password'>): string | undefined {
  try {
    return decodePasswordMessage(message);
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw new PropertyFailure('ProtocolError only', `decodePasswordMessage threw ${describeError(error)} on ${hex(message.raw)}`, {
      cause: error,
    });
  }
}

/** Property 5: a valid stream parses back to its messages' fields, each raw its own bytes. */
function checkRoundTrip(target: Target, frames: readonly Frame[]): void {
  const stream = joinFrames(frames);
  const outcome = run(() => target.create(), stream.bytes, segmentLengths(stream.bytes.length, stream.waits));
  if (outcome.error !== undefined) {
    throw new PropertyFailure('round trip', `a valid stream throws ${outcome.error.code} (${outcome.error.message})`);
  }
  if (outcome.messages.length !== frames.length) {
    throw new PropertyFailure('round trip', `${frames.length} messages serialized, ${outcome.messages.length} parsed`);
  }
  frames.forEach((frame, index) => {
    const message = outcome.messages[index] as Message;
    const fields = decodedFields(message);
    try {
      assert.ok(message.raw.equals(frame.bytes), 'raw differs from the serialized bytes');
      assert.deepStrictEqual(fields, frame.expected);
      if (frame.password !== undefined) {
        assert.equal(checkPasswordDecoding(message as FrontendMessageOf<'password'>), frame.password, 'decodePasswordMessage');
      }
    } catch (error) {
      throw new PropertyFailure(
        'round trip',
        `message ${index}: serialized ${safeJson(frame.expected)}, parsed ${safeJson(fields)} (${describeError(error)})`,
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// One fuzz input

interface Case {
  limits: Limits;
  mode: string;
  frames: Frame[];
  stream?: Stream;
  plans: ChunkPlan[];
}

interface Stats {
  iterations: number;
  bytes: number;
  largest: number;
  /** Inputs parsed with size limits other than the defaults. */
  limited: number;
  modes: Map<string, number>;
  outcomes: Map<string, number>;
  messages: Map<string, number>;
}

const count = (map: Map<string, number>, key: string, by = 1): void => {
  map.set(key, (map.get(key) ?? 0) + by);
};

/** Limits at and around the sizes the generators produce, or the defaults. */
function randomLimits(rng: Rng): Limits {
  if (rng.chance(0.75)) return {};
  const limit = (): number =>
    rng.chance(0.7) ? rng.pick([8, 9, 12, 16, 64, 100, 1023, 1024, 1025, 4096, 10_000, 30_000, 65_535]) : rng.between(8, 300_000);
  return {
    ...(rng.chance(0.8) ? { maxMessageBytes: limit() } : {}),
    ...(rng.chance(0.5) ? { maxStartupBytes: limit() } : {}),
  };
}

function runCase(target: Target, rng: Rng, current: Case, stats: Stats): void {
  current.frames = target.valid(rng);
  checkRoundTrip(target, current.frames);
  current.limits = randomLimits(rng);
  const sources = { sameKind: (r: Rng) => target.valid(r), foreign: (r: Rng) => target.foreign(r) };
  current.mode = rng.weighted<string>([
    [15, () => 'valid'],
    [60, () => 'mutated'],
    [10, () => 'random'],
    [15, () => 'huge length'],
  ]);
  let stream: Stream;
  if (current.mode === 'valid') {
    stream = joinFrames(current.frames);
  } else if (current.mode === 'mutated') {
    const mutated = mutate(rng, current.frames, sources);
    stream = mutated.stream;
    current.mode = `mutated (${mutated.applied.join(', ')})`;
  } else if (current.mode === 'random') {
    stream = randomStream(rng);
  } else {
    stream = hugeAnnouncement(rng, current.frames);
  }
  current.stream = stream;
  current.plans = [randomChunkLengths(rng, stream.bytes.length, stream.waits)];
  if (rng.chance(0.25)) current.plans.push(randomChunkLengths(rng, stream.bytes.length, stream.waits));
  const reference = checkStream(() => target.create(current.limits), stream, current.plans);

  stats.iterations++;
  stats.bytes += stream.bytes.length;
  stats.largest = Math.max(stats.largest, stream.bytes.length);
  count(stats.modes, current.mode.split(' (')[0] as string);
  if (Object.keys(current.limits).length > 0) stats.limited++;
  count(stats.outcomes, reference.error?.code ?? (reference.consumed === stream.bytes.length ? 'all parsed' : 'incomplete tail'));
  for (const message of reference.messages) count(stats.messages, message.name);
}

// ---------------------------------------------------------------------------------------------
// Failure reports

/**
 * Whether the stream still breaks `property` under a few fixed chunkings. Only "chunking" needs
 * the comparisons; the other properties are checked by every run on its own, which is cheaper.
 */
function stillFails(create: CreateParser, stream: Stream, property: Property, seed: number): PropertyFailure | undefined {
  const rng = new Rng(mixSeed(seed, stream.bytes.length));
  const plans: ChunkPlan[] = [{ label: 'whole', lengths: segmentLengths(stream.bytes.length, stream.waits) }];
  if (stream.bytes.length <= 4096) plans.push({ label: 'bytes', lengths: Array<number>(stream.bytes.length).fill(1) });
  for (let i = 0; i < 3; i++) plans.push(randomChunkLengths(rng, stream.bytes.length, stream.waits));
  try {
    if (property === 'chunking') checkStream(create, stream, plans);
    else for (const plan of plans) run(create, stream.bytes, plan.lengths);
  } catch (error) {
    if (error instanceof PropertyFailure && error.property === property) return error;
  }
  return undefined;
}

/** The stream without bytes [start, end), its waits moved along. */
function without(stream: Stream, start: number, end: number): Stream {
  const bytes = Buffer.concat([stream.bytes.subarray(0, start), stream.bytes.subarray(end)]);
  const waits = stream.waits.filter((w) => w <= start || w >= end).map((w) => (w >= end ? w - (end - start) : w));
  return { bytes, waits: normalizeCuts(waits, bytes.length) };
}

/** Where the messages a parser completes before it fails end, pushing byte by byte, unchecked. */
function messageEnds(create: CreateParser, bytes: Buffer): number[] {
  const ends: number[] = [];
  const parser = create();
  let offset = 0;
  try {
    for (; offset < bytes.length; offset++) {
      for (const message of parser.push(bytes.subarray(offset, offset + 1))) {
        ends.push((ends.at(-1) ?? 0) + message.raw.length);
      }
    }
  } catch {
    // The failure itself: the messages before it are what we wanted.
  }
  return ends;
}

/**
 * Shrinks a failing input while the same property fails: to a short failing prefix (by
 * bisection), then by deleting whole messages, then ever smaller byte ranges (ddmin). Bounded
 * to 15 seconds.
 */
function minimize(create: CreateParser, stream: Stream, property: Property, seed: number): { stream: Stream; failure: PropertyFailure } | undefined {
  let failure = stillFails(create, stream, property, seed);
  if (failure === undefined) return undefined;
  let current = stream;
  const deadline = performance.now() + 15_000;
  const attempt = (candidate: Stream): boolean => {
    const again = stillFails(create, candidate, property, seed);
    if (again === undefined) return false;
    current = candidate;
    failure = again;
    return true;
  };
  let good = 0;
  let bad = current.bytes.length;
  while (bad - good > 1 && performance.now() < deadline) {
    const middle = Math.floor((good + bad) / 2);
    if (attempt(without(current, middle, current.bytes.length))) bad = middle;
    else good = middle;
  }
  for (let progress = true; progress && performance.now() < deadline; ) {
    progress = false;
    const ends = messageEnds(create, current.bytes);
    for (let i = ends.length - 1; i >= 0 && performance.now() < deadline; i--) {
      if (attempt(without(current, i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number))) {
        progress = true;
        break;
      }
    }
  }
  let granularity = 2;
  while (current.bytes.length > 1 && performance.now() < deadline) {
    const size = Math.ceil(current.bytes.length / granularity);
    let reduced = false;
    for (let start = 0; start < current.bytes.length && performance.now() < deadline; start += size) {
      if (attempt(without(current, start, Math.min(start + size, current.bytes.length)))) {
        granularity = Math.max(granularity - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (size === 1) break;
      granularity = Math.min(granularity * 2, current.bytes.length);
    }
  }
  return { stream: current, failure };
}

const MAX_REPORTED_BYTES = 32 * 1024;

function showStream(stream: Stream): string {
  const shown = stream.bytes.subarray(0, MAX_REPORTED_BYTES).toString('hex');
  const cut = stream.bytes.length > MAX_REPORTED_BYTES ? ` (first ${MAX_REPORTED_BYTES} bytes; replay for the rest)` : '';
  const waits = stream.waits.length > 0 ? `, pushes end at ${stream.waits.join(', ')}` : '';
  return `${stream.bytes.length} bytes${waits}${cut}:\n    ${shown}`;
}

function report(target: Target, iteration: number, current: Case, failure: PropertyFailure, caseSeed: number): Error {
  const lines = [
    `[${target.name}] property "${failure.property}" failed: ${failure.message}`,
    `  seed ${settings.seed}, iteration ${iteration}, mode ${current.mode}, parser limits ${JSON.stringify(current.limits)}`,
    `  replay: WARDEN_FUZZ_SEED=${settings.seed}:${iteration} node --import tsx --test ${TEST_FILE}`,
  ];
  if (current.stream === undefined || failure.property === 'round trip') {
    lines.push(`  valid stream of ${current.frames.length} messages: ${showStream(joinFrames(current.frames))}`);
  } else {
    lines.push(`  input ${showStream(current.stream)}`);
    lines.push(`  chunk lengths: ${current.plans.map((plan) => `${plan.label} [${plan.lengths.join(',')}]`).join('; ')}`);
    const minimized = minimize(() => target.create(current.limits), current.stream, failure.property, caseSeed);
    lines.push(
      minimized === undefined
        ? '  (does not reproduce under the minimizer’s fixed chunkings)'
        : `  minimized input ${showStream(minimized.stream)}\n  which fails with: ${minimized.failure.message}`,
    );
  }
  return new Error(lines.join('\n'), { cause: failure });
}

// ---------------------------------------------------------------------------------------------
// Tests

function summary(stats: Stats, seconds: number): string[] {
  const histogram = (map: Map<string, number>): string =>
    [...map].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} ${n}`).join(', ');
  return [
    `seed ${settings.seed}: ${stats.iterations} inputs in ${seconds.toFixed(1)} s (${Math.round(stats.iterations / seconds)}/s), ` +
      `${stats.bytes} bytes, largest ${stats.largest}`,
    `inputs: ${histogram(stats.modes)}; ${stats.limited} with random size limits`,
    `outcomes: ${histogram(stats.outcomes)}`,
    `messages parsed: ${histogram(stats.messages)}`,
  ];
}

describe('PostgreSQL codec fuzzing', () => {
  let uninstall: (() => void) | undefined;
  before(() => {
    uninstall = installAllocationProbe();
  });
  after(() => uninstall?.());

  targets.forEach((target, targetIndex) => {
    it(`${target.name}: ${settings.seconds} s of random and mutated streams`, (t) => {
      const stats: Stats = { iterations: 0, bytes: 0, largest: 0, limited: 0, modes: new Map(), outcomes: new Map(), messages: new Map() };
      const started = performance.now();
      const deadline = started + settings.seconds * 1000;
      let iteration = settings.firstIteration;
      do {
        const caseSeed = mixSeed(settings.seed, targetIndex, iteration);
        const current: Case = { limits: {}, mode: 'valid', frames: [], plans: [] };
        try {
          runCase(target, new Rng(caseSeed), current, stats);
        } catch (error) {
          if (error instanceof PropertyFailure) throw report(target, iteration, current, error, caseSeed);
          throw error;
        }
        iteration++;
      } while (performance.now() < deadline);
      for (const line of summary(stats, (performance.now() - started) / 1000)) t.diagnostic(line);
    });
  });

  // The memory property on purpose, every run: the largest length each parser accepts, then
  // part of the message, a kilobyte at a time.
  const announcements: [target: Target, header: Buffer, bodyBytes: number][] = [
    [targets[0] as Target, Buffer.from([0x00, 0x00, 0x27, 0x14, 0x00, 0x03, 0x00, 0x00]), 9 * 1024], // 10004-byte StartupMessage
    [targets[1] as Target, Buffer.from([0x51, 0x04, 0x00, 0x00, 0x00]), 64 * 1024], // 64 MiB Query
    [targets[2] as Target, Buffer.from([0x44, 0x04, 0x00, 0x00, 0x00]), 64 * 1024], // 64 MiB DataRow
  ];
  for (const [target, header, bodyBytes] of announcements) {
    it(`${target.name}: an announced length costs only the bytes that arrive`, () => {
      const input = Buffer.concat([header, new Rng(1).bytes(bodyBytes)]);
      allocationProbe.largestInRun = 0;
      // run() checks bufferedBytes and each push's allocations as the bytes come.
      const outcome = run(() => target.create(), input, [header.length, ...Array<number>(bodyBytes / 1024).fill(1024)]);
      assert.equal(outcome.error, undefined);
      assert.equal(outcome.messages.length, 0);
      assert.ok(
        allocationProbe.largestInRun <= allocationAllowance(input.length),
        `largest allocation ${allocationProbe.largestInRun} bytes for ${input.length} bytes received`,
      );
    });
  }
});
