/**
 * Test-only inputs for fuzzing the wire codec: a seeded PRNG, valid message streams built with
 * `serialize` (and the builders of test-buffers.ts) together with the fields a parser must
 * decode from each message, structure-aware mutations of those streams, and ways to cut a
 * stream into the chunks a socket might deliver. Not exported from the package index.
 */
import { AuthenticationKind, BackendCode, CANCEL_KEY_BYTES, FrontendCode, StartupCode } from '../codes.js';
import { serialize, type FormatCode } from '../serializer.js';
import { backendMessages } from './test-buffers.js';

// ---------------------------------------------------------------------------------------------
// Randomness

/** sfc32 seeded through splitmix32: fast, 32-bit, reproducible. Not for secrets. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n), for n up to 2^32. */
  below(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.u32() < probability * 0x1_0000_0000;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.below(items.length)] as T;
  }

  /** Runs one of the functions, chosen with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [weight: number, choose: () => T])[]): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let ticket = this.below(total);
    for (const [weight, choose] of choices) {
      if (ticket < weight) return choose();
      ticket -= weight;
    }
    throw new RangeError('no choice to make');
  }

  bytes(length: number): Buffer {
    const bytes = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) bytes[i] = this.u32() & 0xff;
    return bytes;
  }

  /** A length in [0, max], mostly small: 0, a few, dozens, sometimes up to `max`. */
  size(max: number): number {
    const bucket = this.below(100);
    const limit = bucket < 10 ? 0 : bucket < 55 ? 8 : bucket < 85 ? 64 : bucket < 97 ? 1024 : max;
    return this.between(0, Math.min(limit, max));
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

/** Mixes integers into one 32-bit seed (murmur3's finalizer folded over the parts). */
export function mixSeed(...parts: number[]): number {
  let hash = 0x2545f491;
  for (const part of parts) {
    hash = Math.imul(hash ^ (part >>> 0), 0xcc9e2d51);
    hash = (hash << 15) | (hash >>> 17);
    hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
    hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
    hash ^= hash >>> 16;
  }
  return hash >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Field values

/** Values at and around the boundaries the codec checks. */
const INT32_EDGES = [
  0, 1, 2, 3, 4, 5, 7, 8, 127, 128, 255, 256, 0x7fff, -0x8000, 0xffff - 0x10000, 0x10000, 10_000, 30_000,
  65_535, 0x7fffffff, -0x80000000, -1, -2,
] as const;

export function int32(rng: Rng): number {
  return rng.chance(0.5) ? rng.pick(INT32_EDGES) : rng.u32() | 0;
}

export function uint32(rng: Rng): number {
  return rng.chance(0.5) ? rng.pick(INT32_EDGES) >>> 0 : rng.u32();
}

function codePoint(rng: Rng): number {
  return rng.weighted<number>([
    [60, () => rng.between(0x20, 0x7e)],
    [6, () => rng.between(0x01, 0x1f)],
    [8, () => rng.between(0x80, 0xff)],
    [10, () => (rng.chance(0.8) ? rng.between(0x100, 0xd7ff) : rng.between(0xe000, 0xffff))],
    [6, () => rng.between(0x10000, 0x10ffff)],
    [10, () => rng.pick([0x3d, 0x2c, 0x27, 0x22, 0x3b, 0x5c, 0x2d, 0x2f, 0x2a, 0xfeff, 0xfffd])],
  ]);
}

/** Well-formed Unicode without NUL (a NUL cannot travel in a protocol string). */
export function text(rng: Rng, maxChars = 2048): string {
  const length = rng.size(maxChars);
  let value = '';
  for (let i = 0; i < length; i++) value += String.fromCodePoint(codePoint(rng));
  return value;
}

const NAMES = [
  '', 'user', 'database', 'options', 'application_name', 'replication', 'client_encoding', 'DateStyle',
  '_pq_.compression', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'prototype', 'S', 'P',
  '0', '1', '42', 'pg_catalog', 'SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS',
] as const;

/** A name-like string: a well-known or tricky key, or random text. */
export function name(rng: Rng, maxChars = 64): string {
  return rng.chance(0.5) ? rng.pick(NAMES) : text(rng, maxChars);
}

function format(rng: Rng): FormatCode {
  return rng.chance(0.5) ? 0 : 1;
}

function formats(rng: Rng, count: number): FormatCode[] {
  return Array.from({ length: count }, () => format(rng));
}

/** Values of Bind, FunctionCall and DataRow: NULL or bytes. */
function values(rng: Rng, maxCount: number): (Buffer | null)[] {
  return Array.from({ length: rng.size(maxCount) }, () => (rng.chance(0.2) ? null : rng.bytes(rng.size(512))));
}

/** No format code, one for all values, or one per value: the counts PostgreSQL accepts. */
function formatsFor(rng: Rng, valueCount: number): FormatCode[] {
  return rng.pick([0, 1, valueCount]) === 0 ? [] : formats(rng, rng.chance(0.5) ? 1 : valueCount);
}

function cancelKey(rng: Rng): Buffer {
  const length = rng.chance(0.6) ? CANCEL_KEY_BYTES.min : rng.between(CANCEL_KEY_BYTES.min, CANCEL_KEY_BYTES.max);
  return rng.bytes(length);
}

function int32Bytes(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value, 0);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Valid messages

/** One message (or untyped startup packet) and what a parser must decode from it. */
export interface Frame {
  bytes: Buffer;
  /** Where the int32 length sits: 0 in the untyped packets of the startup phase, 1 in typed messages. */
  lengthOffset: 0 | 1;
  /** The decoded fields, shaped as test-buffers' `decodedFields` returns them. */
  expected: Record<string, unknown>;
  /** The client waits for the server's answer after this packet (SSLRequest, GSSENCRequest). */
  waitsAfter?: boolean;
  /** For a PasswordMessage: what decodePasswordMessage must return. */
  password?: string;
}

const typed = (bytes: Buffer, expected: Record<string, unknown>): Frame => ({ bytes, lengthOffset: 1, expected });
const untyped = (bytes: Buffer, expected: Record<string, unknown>): Frame => ({ bytes, lengthOffset: 0, expected });

/** Every typed message a client sends after the StartupMessage, except Terminate. */
const FRONTEND_TYPED_BUILDERS: readonly ((rng: Rng) => Frame)[] = [
  (rng) => {
    const password = text(rng);
    return { ...typed(serialize.password(password), { name: 'password', data: Buffer.from(`${password}\0`) }), password };
  },
  (rng) => {
    const mechanism = name(rng);
    const data = rng.bytes(rng.size(512));
    const body = Buffer.concat([Buffer.from(`${mechanism}\0`), int32Bytes(data.length), data]);
    return typed(serialize.saslInitialResponse(mechanism, data), { name: 'password', data: body });
  },
  (rng) => {
    const data = rng.bytes(rng.size(4096));
    return typed(serialize.saslResponse(data), { name: 'password', data });
  },
  (rng) => {
    const query = text(rng, 4096);
    return typed(serialize.query(query), { name: 'query', text: query });
  },
  (rng) => {
    const statement = name(rng);
    const query = text(rng);
    const paramTypes = Array.from({ length: rng.size(2000) }, () => uint32(rng));
    return typed(serialize.parse(statement, query, paramTypes), { name: 'parse', statement, text: query, paramTypes });
  },
  (rng) => {
    const portal = name(rng);
    const statement = name(rng);
    const params = values(rng, 64);
    const paramFormats = formatsFor(rng, params.length);
    const resultFormats = formats(rng, rng.size(16));
    return typed(serialize.bind(portal, statement, params, { params: paramFormats, results: resultFormats }), {
      name: 'bind',
      portal,
      statement,
      paramFormats,
      params,
      resultFormats,
    });
  },
  (rng) => {
    const target = rng.pick(['S', 'P'] as const);
    const objectName = name(rng, 2048);
    return typed(serialize.describe(target, objectName), { name: 'describe', target, objectName });
  },
  (rng) => {
    const portal = name(rng, 2048);
    const maxRows = int32(rng);
    return typed(serialize.execute(portal, maxRows), { name: 'execute', portal, maxRows });
  },
  (rng) => {
    const target = rng.pick(['S', 'P'] as const);
    const objectName = name(rng, 2048);
    return typed(serialize.close(target, objectName), { name: 'close', target, objectName });
  },
  () => typed(serialize.sync(), { name: 'sync' }),
  () => typed(serialize.flush(), { name: 'flush' }),
  (rng) => {
    const functionOid = uint32(rng);
    const args = values(rng, 16);
    const argFormats = formatsFor(rng, args.length);
    const resultFormat = format(rng);
    return typed(serialize.functionCall(functionOid, args, { args: argFormats, result: resultFormat }), {
      name: 'functionCall',
      functionOid,
      argFormats,
      args,
      resultFormat,
    });
  },
  (rng) => {
    const data = rng.bytes(rng.size(rng.chance(0.05) ? 200_000 : 4096));
    return typed(serialize.copyData(data), { name: 'copyData', data });
  },
  () => typed(serialize.copyDone(), { name: 'copyDone' }),
  (rng) => {
    const message = text(rng, 1500);
    return typed(serialize.copyFail(message), { name: 'copyFail', message });
  },
];

const terminate = (): Frame => typed(serialize.terminate(), { name: 'terminate' });

export function frontendTypedFrame(rng: Rng): Frame {
  return rng.pick(FRONTEND_TYPED_BUILDERS)(rng);
}

/** A StartupMessage within PostgreSQL's 10000-byte limit, parameters in any order. */
export function startupFrame(rng: Rng): Frame {
  const protocolVersion = rng.weighted<number>([
    [6, () => StartupCode.protocol3_0],
    [2, () => StartupCode.protocol3_2],
    [2, () => StartupCode.protocol3_0 | rng.between(0, 0xffff)],
  ]);
  const entries: [string, string][] = [];
  const keys = new Set<string>();
  for (let i = rng.size(16); i > 0; i--) {
    const key = name(rng);
    if (key === '' || keys.has(key)) continue;
    keys.add(key);
    entries.push([key, rng.chance(0.05) ? text(rng, 2048) : text(rng, 64)]);
  }
  for (;;) {
    const parameters: Record<string, string> = Object.create(null);
    for (const [key, value] of entries) parameters[key] = value;
    const bytes = serialize.startup(parameters, protocolVersion);
    if (bytes.length - 4 <= 10_000) {
      return untyped(bytes, { name: 'startup', protocolVersion, parameters: Object.fromEntries(entries) });
    }
    entries.pop();
  }
}

export function cancelRequestFrame(rng: Rng): Frame {
  const processId = int32(rng);
  const secretKey = cancelKey(rng);
  return untyped(serialize.cancelRequest(processId, secretKey), { name: 'cancelRequest', processId, secretKey });
}

/** Several typed messages, sometimes closed by a Terminate. */
export function frontendTypedStream(rng: Rng): Frame[] {
  const count = rng.between(1, rng.chance(0.1) ? 40 : 6);
  const frames = Array.from({ length: count }, () => frontendTypedFrame(rng));
  if (rng.chance(0.15)) frames.push(terminate());
  return frames;
}

/**
 * What a client sends from the first byte: maybe SSLRequest and GSSENCRequest (each followed by
 * a wait for the answer), then a StartupMessage, maybe followed by typed messages, or a
 * CancelRequest.
 */
export function frontendStartupStream(rng: Rng): Frame[] {
  const frames: Frame[] = [];
  for (const request of rng.shuffle(['ssl', 'gss'] as const)) {
    if (!rng.chance(0.25)) continue;
    const bytes = request === 'ssl' ? serialize.sslRequest() : serialize.gssEncRequest();
    frames.push({ ...untyped(bytes, { name: `${request === 'ssl' ? 'sslRequest' : 'gssEncRequest'}` }), waitsAfter: true });
  }
  if (rng.chance(0.15)) {
    frames.push(cancelRequestFrame(rng));
  } else {
    frames.push(startupFrame(rng));
    if (rng.chance(0.5)) frames.push(...frontendTypedStream(rng));
  }
  return frames;
}

const other = (bytes: Buffer): Frame => typed(bytes, { name: 'other', code: bytes[0] as number });

const authentication = (bytes: Buffer, kind: number, data: Buffer): Frame =>
  typed(bytes, { name: 'authentication', kind, data });

/** Every message a server sends: the serializer's, then the test builders' (decoded as `other`). */
const BACKEND_BUILDERS: readonly ((rng: Rng) => Frame)[] = [
  () => authentication(serialize.authenticationOk(), AuthenticationKind.ok, Buffer.alloc(0)),
  () =>
    authentication(serialize.authenticationCleartextPassword(), AuthenticationKind.cleartextPassword, Buffer.alloc(0)),
  (rng) => {
    const parameter = name(rng, 2048);
    const value = text(rng);
    return typed(serialize.parameterStatus(parameter, value), { name: 'parameterStatus', parameter, value });
  },
  (rng) => {
    const processId = int32(rng);
    const secretKey = cancelKey(rng);
    return typed(serialize.backendKeyData(processId, secretKey), { name: 'backendKeyData', processId, secretKey });
  },
  (rng) => {
    const status = rng.pick(['I', 'T', 'E'] as const);
    return typed(serialize.readyForQuery(status), { name: 'readyForQuery', status });
  },
  (rng) => {
    const fields = {
      severity: rng.pick(['ERROR', 'FATAL', 'PANIC'] as const),
      code: sqlState(rng),
      message: text(rng),
      ...(rng.chance(0.5) ? { detail: text(rng) } : {}),
      ...(rng.chance(0.5) ? { hint: text(rng) } : {}),
    };
    return typed(serialize.errorResponse(fields), { name: 'errorResponse', fields: responseFields(fields) });
  },
  (rng) => {
    const fields = {
      severity: rng.pick(['NOTICE', 'WARNING', 'INFO'] as const),
      code: sqlState(rng),
      message: text(rng),
      ...(rng.chance(0.5) ? { detail: text(rng) } : {}),
    };
    return typed(serialize.noticeResponse(fields), { name: 'noticeResponse', fields: responseFields(fields) });
  },
  (rng) => {
    const minor = rng.chance(0.5) ? rng.between(0, 3) : rng.between(0, 0xffff);
    const unrecognizedOptions = Array.from({ length: rng.size(16) }, () => name(rng, 256));
    return typed(serialize.negotiateProtocolVersion(minor, unrecognizedOptions), {
      name: 'negotiateProtocolVersion',
      protocolVersion: StartupCode.protocol3_0 | minor,
      unrecognizedOptions,
    });
  },
  (rng) => {
    const salt = rng.bytes(4);
    return authentication(backendMessages.authenticationMd5Password(salt), AuthenticationKind.md5Password, salt);
  },
  (rng) => {
    const saslMechanisms = Array.from({ length: rng.between(1, 3) }, () => name(rng) || 'SCRAM-SHA-256');
    const data = Buffer.concat([...saslMechanisms.map((m) => Buffer.from(`${m}\0`)), Buffer.alloc(1)]);
    return typed(backendMessages.authenticationSasl(saslMechanisms), {
      name: 'authentication',
      kind: AuthenticationKind.sasl,
      data,
      saslMechanisms,
    });
  },
  (rng) => {
    const data = rng.bytes(rng.size(4096));
    return authentication(backendMessages.authenticationSaslContinue(data), AuthenticationKind.saslContinue, data);
  },
  (rng) => {
    const data = rng.bytes(rng.size(512));
    return authentication(backendMessages.authenticationSaslFinal(data), AuthenticationKind.saslFinal, data);
  },
  (rng) => {
    const kind = rng.pick([AuthenticationKind.kerberosV5, AuthenticationKind.gss, AuthenticationKind.sspi]);
    return authentication(backendMessages.authentication(kind), kind, Buffer.alloc(0));
  },
  (rng) => {
    const data = rng.bytes(rng.size(1024));
    return authentication(backendMessages.authentication(AuthenticationKind.gssContinue, data), AuthenticationKind.gssContinue, data);
  },
  (rng) => {
    const code = rng.pick([BackendCode.errorResponse, BackendCode.noticeResponse]);
    const pairs: [string, string][] = [];
    const keys = new Set<string>();
    for (let i = rng.size(12); i > 0; i--) {
      const key = String.fromCharCode(rng.between(1, 0x7f));
      if (keys.has(key)) continue;
      keys.add(key);
      pairs.push([key, text(rng, 256)]);
    }
    return typed(backendMessages.responseFields(code, pairs), {
      name: code === BackendCode.errorResponse ? 'errorResponse' : 'noticeResponse',
      fields: Object.fromEntries(pairs),
    });
  },
  (rng) =>
    other(
      backendMessages.rowDescription(
        Array.from({ length: rng.size(32) }, () => ({
          name: name(rng),
          tableOid: uint32(rng),
          columnNumber: rng.between(0, 0xffff),
          typeOid: uint32(rng),
          typeSize: rng.between(-0x8000, 0x7fff),
          typeModifier: int32(rng),
          format: format(rng),
        })),
      ),
    ),
  (rng) => other(backendMessages.dataRow(values(rng, rng.chance(0.05) ? 2000 : 32))),
  (rng) => other(backendMessages.commandComplete(text(rng))),
  (rng) => other(backendMessages.parameterDescription(Array.from({ length: rng.size(2000) }, () => uint32(rng)))),
  (rng) =>
    other(
      backendMessages.copyResponse(
        rng.pick([BackendCode.copyInResponse, BackendCode.copyOutResponse, BackendCode.copyBothResponse]),
        format(rng),
        formats(rng, rng.size(64)),
      ),
    ),
  (rng) => other(backendMessages.copyData(rng.bytes(rng.size(rng.chance(0.05) ? 200_000 : 4096)))),
  (rng) => other(backendMessages.notificationResponse(int32(rng), name(rng), text(rng))),
  (rng) => other(backendMessages.functionCallResponse(rng.chance(0.2) ? null : rng.bytes(rng.size(1024)))),
  (rng) =>
    other(
      backendMessages.empty(
        rng.pick([
          BackendCode.parseComplete,
          BackendCode.bindComplete,
          BackendCode.closeComplete,
          BackendCode.noData,
          BackendCode.portalSuspended,
          BackendCode.emptyQueryResponse,
          BackendCode.copyDone,
        ]),
      ),
    ),
];

function sqlState(rng: Rng): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from({ length: 5 }, () => alphabet[rng.below(alphabet.length)]).join('');
}

function responseFields(fields: {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}): Record<string, string> {
  return {
    S: fields.severity,
    V: fields.severity,
    C: fields.code,
    M: fields.message,
    ...(fields.detail === undefined ? {} : { D: fields.detail }),
    ...(fields.hint === undefined ? {} : { H: fields.hint }),
  };
}

export function backendFrame(rng: Rng): Frame {
  return rng.pick(BACKEND_BUILDERS)(rng);
}

export function backendStream(rng: Rng): Frame[] {
  return Array.from({ length: rng.between(1, rng.chance(0.1) ? 40 : 6) }, () => backendFrame(rng));
}

// ---------------------------------------------------------------------------------------------
// Streams and mutations

/** Bytes to feed a parser, and the offsets where the client waits for an answer. */
export interface Stream {
  bytes: Buffer;
  /** Sorted offsets in (0, bytes.length): pushes must end there (see Frame.waitsAfter). */
  waits: number[];
}

export function joinFrames(frames: readonly Frame[]): Stream {
  const waits: number[] = [];
  let offset = 0;
  for (const frame of frames) {
    offset += frame.bytes.length;
    if (frame.waitsAfter === true) waits.push(offset);
  }
  return { bytes: Buffer.concat(frames.map((frame) => frame.bytes)), waits: normalizeWaits(waits, offset) };
}

function normalizeWaits(waits: number[], length: number): number[] {
  return [...new Set(waits)].filter((wait) => wait > 0 && wait < length).sort((a, b) => a - b);
}

/** Type bytes of both directions: a valid code on the wrong message is the interesting case. */
export const TYPE_BYTES: readonly number[] = [...new Set([...Object.values(FrontendCode), ...Object.values(BackendCode)])];

/** Request codes and versions of the startup phase, valid and not. */
const STARTUP_CODES = [
  StartupCode.protocol3_0,
  StartupCode.protocol3_2,
  StartupCode.protocol3_0 | 0xffff,
  StartupCode.cancelRequest,
  StartupCode.sslRequest,
  StartupCode.gssEncRequest,
  (1234 << 16) | 5681,
  1234 << 16,
  2 << 16,
  4 << 16,
  0,
  -1,
] as const;

/** Lengths at and around the codec's limits, and beyond anything a buffer should be given. */
export const HUGE_LENGTHS = [
  10_004, 10_005, 30_000, 30_001, 65_535, 65_536, 1 << 20, 16 << 20, (64 << 20) - 1, 64 << 20, (64 << 20) + 1,
  0x7ffffffe, 0x7fffffff,
] as const;

/** A value for a length field that does not match the bytes. */
function lyingLength(rng: Rng, actual: number): number {
  return rng.weighted<number>([
    [3, () => rng.between(0, Math.max(0, actual - 1))],
    [2, () => rng.pick([0, 1, 2, 3, 4, 5, 7, 8])],
    [3, () => actual + rng.between(1, 64)],
    [2, () => -rng.between(1, 0x80000000)],
    [1, () => rng.pick([-1, -4, -0x80000000])],
    [3, () => rng.pick(HUGE_LENGTHS)],
    [1, () => rng.between(actual, 0x7fffffff)],
  ]);
}

/** Byte sequences that are not UTF-8: stray continuation, truncated, surrogate, overlong, too high. */
const INVALID_UTF8 = [[0xff], [0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]];

const splice = (bytes: Buffer, at: number, remove: number, insert: Buffer = Buffer.alloc(0)): Buffer =>
  Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at + remove)]);

function withLength(frame: Frame, bytes: Buffer, length?: number): Frame {
  const copy = Buffer.from(bytes);
  if (copy.length >= frame.lengthOffset + 4) {
    copy.writeInt32BE(length ?? copy.length - frame.lengthOffset, frame.lengthOffset);
  }
  return { ...frame, bytes: copy };
}

/** A size-changing mutation keeps the framing honest half of the time, to reach the decoders. */
function maybeFixLength(rng: Rng, frame: Frame, bytes: Buffer): Frame {
  return rng.chance(0.5) ? withLength(frame, bytes) : { ...frame, bytes };
}

type FrameMutation = (rng: Rng, frame: Frame) => Frame;

/** Mutations of one message; `expected` no longer holds afterwards. */
const FRAME_MUTATIONS: Record<string, FrameMutation> = {
  flipBits(rng, frame) {
    const bytes = Buffer.from(frame.bytes);
    if (bytes.length === 0) return frame;
    for (let i = rng.between(1, 4); i > 0; i--) {
      const at = rng.chance(0.5) ? rng.below(Math.min(bytes.length, frame.lengthOffset + 8)) : rng.below(bytes.length);
      bytes[at] = (bytes[at] as number) ^ (1 << rng.below(8));
    }
    return { ...frame, bytes };
  },
  insertBytes(rng, frame) {
    const count = rng.between(1, 16);
    const insert = rng.chance(0.5) ? rng.bytes(count) : Buffer.alloc(count, rng.pick([0x00, 0xff, 0x80, 0x41]));
    return maybeFixLength(rng, frame, splice(frame.bytes, rng.between(0, frame.bytes.length), 0, insert));
  },
  deleteBytes(rng, frame) {
    if (frame.bytes.length === 0) return frame;
    const at = rng.below(frame.bytes.length);
    return maybeFixLength(rng, frame, splice(frame.bytes, at, rng.between(1, Math.min(16, frame.bytes.length - at))));
  },
  lieAboutLength(rng, frame) {
    return withLength(frame, frame.bytes, lyingLength(rng, frame.bytes.length - frame.lengthOffset));
  },
  /** A typed message's type byte, or a startup packet's version or request code. */
  changeType(rng, frame) {
    const bytes = Buffer.from(frame.bytes);
    if (frame.lengthOffset === 1 && bytes.length > 0) {
      bytes[0] = rng.chance(0.6) ? rng.pick(TYPE_BYTES) : rng.below(256);
    } else if (frame.lengthOffset === 0 && bytes.length >= 8) {
      bytes.writeInt32BE(rng.chance(0.7) ? rng.pick(STARTUP_CODES) : rng.u32() | 0, 4);
    }
    return { ...frame, bytes };
  },
  /** Strings that run to the end of the message, or swallow the fields after them. */
  unterminateString(rng, frame) {
    const header = frame.lengthOffset + 4;
    const nuls: number[] = [];
    for (let i = header; i < frame.bytes.length; i++) if (frame.bytes[i] === 0) nuls.push(i);
    if (nuls.length === 0) return frame;
    const at = rng.pick(nuls);
    return rng.weighted<Frame>([
      [2, () => {
        const bytes = Buffer.from(frame.bytes);
        bytes[at] = rng.between(1, 255);
        return { ...frame, bytes };
      }],
      [1, () => {
        const bytes = Buffer.from(frame.bytes);
        for (const nul of nuls) bytes[nul] = 0x41;
        return { ...frame, bytes };
      }],
      [2, () => withLength(frame, frame.bytes.subarray(0, at))],
      [1, () => withLength(frame, splice(frame.bytes, at, 1))],
    ]);
  },
  interestingInteger(rng, frame) {
    const header = frame.lengthOffset + 4;
    const width = rng.pick([1, 2, 4]);
    if (frame.bytes.length < header + width) return frame;
    const bytes = Buffer.from(frame.bytes);
    const at = rng.between(header, bytes.length - width);
    if (width === 1) bytes[at] = rng.pick([0, 1, 0x7f, 0x80, 0xff, 0x53, 0x50]);
    else if (width === 2) bytes.writeUInt16BE(rng.pick([0, 1, 2, 0x7fff, 0x8000, 0xfffe, 0xffff]), at);
    else bytes.writeInt32BE(rng.pick(INT32_EDGES), at);
    return { ...frame, bytes };
  },
  randomBody(rng, frame) {
    const header = frame.bytes.subarray(0, Math.min(frame.bytes.length, frame.lengthOffset + 4));
    return withLength(frame, Buffer.concat([header, rng.bytes(rng.size(256))]));
  },
  invalidUtf8(rng, frame) {
    const header = frame.lengthOffset + 4;
    if (frame.bytes.length < header) return frame;
    const at = rng.between(header, frame.bytes.length);
    return withLength(frame, splice(frame.bytes, at, rng.chance(0.5) ? 0 : 1, Buffer.from(rng.pick(INVALID_UTF8))));
  },
  truncate(rng, frame) {
    return frame.bytes.length === 0 ? frame : { ...frame, bytes: frame.bytes.subarray(0, rng.below(frame.bytes.length)) };
  },
  trailingBytes(rng, frame) {
    return withLength(frame, Buffer.concat([frame.bytes, rng.bytes(rng.between(1, 8))]));
  },
};

const FRAME_MUTATION_NAMES = Object.keys(FRAME_MUTATIONS);

/** Where mutations get other material from. */
export interface MutationSources {
  /** Another valid stream of the same kind, for splicing. */
  sameKind(rng: Rng): Frame[];
  /** A message of another phase or direction. */
  foreign(rng: Rng): Frame;
}

/**
 * Applies one to five mutations to a valid stream: to single messages (most of the time), to
 * the list of messages, and to the joined bytes. Returns the bytes and the names applied.
 */
export function mutate(rng: Rng, original: readonly Frame[], sources: MutationSources): { stream: Stream; applied: string[] } {
  let frames = [...original];
  const applied: string[] = [];
  const joinedMutations: ((stream: Stream) => Stream)[] = [];
  for (let count = rng.between(1, 5); count > 0; count--) {
    rng.weighted<void>([
      [14, () => {
        if (frames.length === 0) return;
        const index = rng.below(frames.length);
        const mutation = rng.pick(FRAME_MUTATION_NAMES);
        frames[index] = (FRAME_MUTATIONS[mutation] as FrameMutation)(rng, frames[index] as Frame);
        applied.push(mutation);
      }],
      [1, () => {
        if (frames.length === 0) return;
        const frame = frames[rng.below(frames.length)] as Frame;
        frames.splice(rng.between(0, frames.length), 0, frame);
        applied.push('duplicateMessage');
      }],
      [1, () => {
        frames.splice(rng.below(frames.length + 1), 1);
        applied.push('dropMessage');
      }],
      [1, () => {
        if (frames.length < 2) return;
        rng.shuffle(frames);
        applied.push('reorderMessages');
      }],
      [1, () => {
        frames.splice(rng.between(0, frames.length), 0, sources.foreign(rng));
        applied.push('foreignMessage');
      }],
      [1, () => {
        const bytes = rng.bytes(rng.between(1, 32));
        frames.splice(rng.between(0, frames.length), 0, { bytes, lengthOffset: 1, expected: {} });
        applied.push('garbage');
      }],
      [1, () => {
        const others = sources.sameKind(rng);
        frames = [...frames.slice(0, rng.between(0, frames.length)), ...others.slice(rng.below(others.length))];
        applied.push('spliceMessages');
      }],
      [1, () => {
        joinedMutations.push((stream) => {
          const at = rng.below(stream.bytes.length + 1);
          return { bytes: stream.bytes.subarray(0, at), waits: normalizeWaits(stream.waits, at) };
        });
        applied.push('truncateStream');
      }],
      [1, () => {
        const other = joinFrames(sources.sameKind(rng));
        joinedMutations.push((stream) => {
          const at = rng.between(0, stream.bytes.length);
          const from = rng.between(0, other.bytes.length);
          const bytes = Buffer.concat([stream.bytes.subarray(0, at), other.bytes.subarray(from)]);
          const waits = [...stream.waits.filter((w) => w < at), ...other.waits.filter((w) => w > from).map((w) => w - from + at)];
          return { bytes, waits: normalizeWaits(waits, bytes.length) };
        });
        applied.push('spliceStreams');
      }],
      [1, () => {
        joinedMutations.push((stream) => {
          const bytes = Buffer.from(stream.bytes);
          for (let i = rng.between(1, 8); i > 0 && bytes.length > 0; i--) {
            const at = rng.below(bytes.length);
            bytes[at] = (bytes[at] as number) ^ (1 << rng.below(8));
          }
          return { bytes, waits: stream.waits };
        });
        applied.push('flipBitsAnywhere');
      }],
      [1, () => {
        const remove = rng.chance(0.5) ? 0 : rng.between(1, 16);
        joinedMutations.push((stream) => {
          const at = rng.between(0, stream.bytes.length);
          const insert = remove === 0 ? rng.bytes(rng.between(1, 16)) : Buffer.alloc(0);
          const bytes = splice(stream.bytes, at, remove, insert);
          const shift = insert.length - Math.min(remove, stream.bytes.length - at);
          const waits = stream.waits.filter((w) => w <= at || w >= at + remove).map((w) => (w > at ? w + shift : w));
          return { bytes, waits: normalizeWaits(waits, bytes.length) };
        });
        applied.push(remove === 0 ? 'insertAnywhere' : 'deleteAnywhere');
      }],
    ]);
  }
  let stream = joinFrames(frames);
  for (const mutation of joinedMutations) stream = mutation(stream);
  return { stream, applied };
}

/**
 * A valid prefix, then a message that announces a huge length (within or beyond the limits)
 * and sends only a few bytes of it.
 */
export function hugeAnnouncement(rng: Rng, frames: readonly Frame[]): Stream {
  const prefix = frames.slice(0, rng.below(frames.length));
  const victim = frames[prefix.length] as Frame;
  const bytes = Buffer.concat([victim.bytes, rng.bytes(rng.size(16_384))]);
  const liar = withLength(victim, bytes, rng.pick(HUGE_LENGTHS));
  return joinFrames([...prefix, liar]);
}

/** Random bytes, uniform or from a small alphabet of bytes that mean something to the codec. */
export function randomStream(rng: Rng): Stream {
  const length = rng.size(4096);
  if (rng.chance(0.5)) return { bytes: rng.bytes(length), waits: [] };
  const alphabet = [0x00, 0x00, 0x00, 0xff, 0x7f, 0x80, 0x04, 0x08, 0x03, ...TYPE_BYTES];
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = rng.pick(alphabet);
  return { bytes, waits: [] };
}

// ---------------------------------------------------------------------------------------------
// Chunkings

/** Lengths of the chunks that push each stretch between `cuts` whole. */
export function segmentLengths(length: number, cuts: readonly number[]): number[] {
  const lengths: number[] = [];
  let previous = 0;
  for (const cut of cuts) {
    if (cut <= previous || cut >= length) continue;
    lengths.push(cut - previous);
    previous = cut;
  }
  lengths.push(length - previous);
  return lengths;
}

/**
 * Random chunk lengths with a boundary at every cut: byte by byte, tiny (with empty chunks),
 * small, medium, or one split per stretch.
 */
export function randomChunkLengths(rng: Rng, length: number, cuts: readonly number[]): { label: string; lengths: number[] } {
  const strategies = ['tiny', 'small', 'medium', 'split', 'mixed'];
  if (length <= 4096) strategies.push('bytes', 'bytes');
  const label = rng.pick(strategies);
  const chunkSize = (): number => {
    switch (label) {
      case 'bytes':
        return 1;
      case 'tiny':
        return rng.between(0, 3);
      case 'small':
        return rng.between(1, 32);
      case 'medium':
        return rng.between(1, 2048);
      default:
        return rng.chance(0.5) ? rng.between(0, 8) : rng.between(1, Math.max(1, length));
    }
  };
  const lengths: number[] = [];
  for (const segment of segmentLengths(length, cuts)) {
    if (label === 'split') {
      const at = rng.between(0, segment);
      lengths.push(at, segment - at);
      continue;
    }
    let left = segment;
    do {
      const size = Math.min(left, chunkSize());
      lengths.push(size);
      left -= size;
    } while (left > 0);
  }
  return { label, lengths };
}
