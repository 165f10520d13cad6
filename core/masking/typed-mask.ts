/**
 * Neutral values for column rules, where a whole value is replaced whatever it holds: each stays a
 * valid value of its column's type, in the text and in the binary format, so clients decode the
 * row as usual. Formats follow each type's send/recv functions in PostgreSQL's src/backend/utils/adt.
 */
import { PgType } from './pg-types.js';

const MASKED_TEXT = '****';
const MASKED_JSON = '"****"';

const text = (value: string) => Buffer.from(value, 'utf8');
const zeros = (length: number) => Buffer.alloc(length);

/** [text format, binary format] per type OID. */
const NEUTRAL_VALUES: ReadonlyMap<number, readonly [Buffer, Buffer]> = new Map<number, readonly [Buffer, Buffer]>([
  // textsend/namesend/bpcharsend/varcharsend write the characters alone.
  [PgType.text, [text(MASKED_TEXT), text(MASKED_TEXT)]],
  [PgType.varchar, [text(MASKED_TEXT), text(MASKED_TEXT)]],
  [PgType.bpchar, [text(MASKED_TEXT), text(MASKED_TEXT)]],
  [PgType.name, [text(MASKED_TEXT), text(MASKED_TEXT)]],
  [PgType.unknown, [text(MASKED_TEXT), text(MASKED_TEXT)]],
  [PgType.int2, [text('0'), zeros(2)]],
  [PgType.int4, [text('0'), zeros(4)]],
  [PgType.int8, [text('0'), zeros(8)]],
  // IEEE 754 +0.0 is all zero bits.
  [PgType.float4, [text('0'), zeros(4)]],
  [PgType.float8, [text('0'), zeros(8)]],
  // numeric_send: int16 ndigits, weight, sign, dscale, then the base-10000 digits; zero has none.
  [PgType.numeric, [text('0'), zeros(8)]],
  [PgType.bool, [text('f'), zeros(1)]],
  // Dates and timestamps count from 2000-01-01 (POSTGRES_EPOCH_JDATE): days as int32, microseconds as int64.
  [PgType.date, [text('2000-01-01'), zeros(4)]],
  [PgType.timestamp, [text('2000-01-01 00:00:00'), zeros(8)]],
  [PgType.timestamptz, [text('2000-01-01 00:00:00+00'), zeros(8)]],
  [PgType.uuid, [text('00000000-0000-0000-0000-000000000000'), zeros(16)]],
  // json_send writes the text; jsonb_send prefixes it with format version 1.
  [PgType.json, [text(MASKED_JSON), text(MASKED_JSON)]],
  [PgType.jsonb, [text(MASKED_JSON), Buffer.concat([Buffer.from([1]), text(MASKED_JSON)])]],
  // byteaout's hex format of no bytes; bytearecv takes the bytes as they are.
  [PgType.bytea, [text('\\x'), zeros(0)]],
  // inet_send: family (PGSQL_AF_INET = 2), prefix bits, is_cidr, address length, address.
  [PgType.inet, [text('0.0.0.0'), Buffer.from([2, 32, 0, 4, 0, 0, 0, 0])]],
]);

/**
 * The bytes of a neutral value of the type, in the column's format (0 text, 1 binary), or null for
 * "send SQL NULL instead": for arrays, composites, domains and every type not listed, since NULL is
 * a valid value of every type and needs no knowledge of its encoding (only a NOT NULL promise the
 * client may hold is broken). The Buffers are shared: copy them, never write into them.
 */
export function maskedValue(typeOid: number, format: 0 | 1): Buffer | null {
  return NEUTRAL_VALUES.get(typeOid)?.[format] ?? null;
}
