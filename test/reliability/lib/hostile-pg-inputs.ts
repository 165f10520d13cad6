/**
 * Hostile PostgreSQL client input: seeded mutations of valid frontend messages (truncated,
 * lying lengths, flipped bytes, unknown types, trailing garbage, random bytes), each tagged
 * with the connection phase it is sent in. The same seed gives the same bytes every run.
 */
import { mulberry32 } from '../../helpers/prng.js';
import { serialize } from '../../../proxy-fleet/postgres/protocol/index.js';

/** startup: first bytes of a fresh connection; password: after a valid StartupMessage; ready: after a full login. */
export type Phase = 'startup' | 'password' | 'ready';

export interface MutatedInput {
  readonly name: string;
  readonly phase: Phase;
  readonly bytes: Buffer;
}

/** A StartupMessage from raw key/value bytes, so names and values need not be UTF-8. */
export function startupPacket(pairs: readonly (readonly [Buffer | string, Buffer | string])[], protocolVersion = 196_608): Buffer {
  const body = Buffer.concat([...pairs.flatMap(([key, value]) => [Buffer.from(key), Buffer.from([0]), Buffer.from(value), Buffer.from([0])]), Buffer.from([0])]);
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(protocolVersion, 4);
  return Buffer.concat([header, body]);
}

/** A typed message with an arbitrary type byte and body, and a length field that may lie. */
export function typedMessage(type: string | number, body: Buffer, length = body.length + 4): Buffer {
  const header = Buffer.alloc(5);
  header[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  header.writeInt32BE(length, 1);
  return Buffer.concat([header, body]);
}

const templates: Record<Phase, readonly { readonly name: string; readonly bytes: Buffer; readonly lengthAt: number }[]> = {
  startup: [
    { name: 'StartupMessage', bytes: serialize.startup({ user: 'hostile', database: 'app', application_name: 'fuzz' }), lengthAt: 0 },
    { name: 'SSLRequest', bytes: serialize.sslRequest(), lengthAt: 0 },
    { name: 'CancelRequest', bytes: serialize.cancelRequest(1234, Buffer.from([1, 2, 3, 4])), lengthAt: 0 },
  ],
  password: [{ name: 'PasswordMessage', bytes: serialize.password('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'), lengthAt: 1 }],
  ready: [
    { name: 'Query', bytes: serialize.query('SELECT 1'), lengthAt: 1 },
    { name: 'Parse', bytes: serialize.parse('fuzz', 'SELECT $1::int', [23]), lengthAt: 1 },
    { name: 'Bind', bytes: serialize.bind('', 'fuzz', [Buffer.from('7')], { params: [0], results: [0] }), lengthAt: 1 },
    { name: 'Execute', bytes: serialize.execute('', 0), lengthAt: 1 },
  ],
};

/** Type bytes no frontend message uses. */
const UNKNOWN_TYPES = [0x00, 0x01, 0x7a, 0x41, 0x4b, 0x5a, 0xff];
const LYING_LENGTHS = [0, 1, 3, -1, -2_147_483_648, 0x7fffffff, 1 << 30, 70_000];

type Mutation = (bytes: Buffer, lengthAt: number, rng: Rng) => { what: string; bytes: Buffer };

const mutations: readonly Mutation[] = [
  (bytes, _at, rng) => {
    const keep = rng.int(1, bytes.length - 1);
    return { what: `truncated to ${keep} of ${bytes.length} bytes`, bytes: bytes.subarray(0, keep) };
  },
  (bytes, at, rng) => {
    const length = rng.chance(0.5) ? rng.pick(LYING_LENGTHS) : bytes.length - at + rng.int(1, 5000);
    const copy = Buffer.from(bytes);
    copy.writeInt32BE(length | 0, at);
    return { what: `length field says ${length | 0}`, bytes: copy };
  },
  (bytes, at, rng) => {
    const copy = Buffer.from(bytes);
    const flips = rng.int(1, 4);
    for (let i = 0; i < flips; i++) copy[rng.int(at + 4, copy.length - 1)] = rng.int(0, 255);
    return { what: `${flips} body bytes replaced`, bytes: copy };
  },
  (bytes, at, rng) => {
    if (at === 0) return { what: 'random bytes instead of the packet', bytes: rng.bytes(rng.int(1, 300)) };
    const copy = Buffer.from(bytes);
    copy[0] = rng.pick(UNKNOWN_TYPES);
    return { what: `type byte 0x${copy[0]!.toString(16)}`, bytes: copy };
  },
  (bytes, _at, rng) => ({ what: 'trailing garbage', bytes: Buffer.concat([bytes, rng.bytes(rng.int(1, 200))]) }),
];

export interface Rng {
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(count: number): Buffer;
}

export function seededRng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(0, items.length - 1)]!,
    bytes: (count) => Buffer.from(Array.from({ length: count }, () => int(0, 255))),
  };
}

/** `count` mutated messages for `phase`, the same for the same seed. */
export function mutatedInputs(seed: number, phase: Phase, count: number): MutatedInput[] {
  const rng = seededRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const template = rng.pick(templates[phase]);
    const { what, bytes } = rng.pick(mutations)(template.bytes, template.lengthAt, rng);
    return { name: `${phase} #${i}: ${template.name}, ${what}`, phase, bytes };
  });
}
