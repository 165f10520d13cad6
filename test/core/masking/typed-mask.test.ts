import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgType } from '../../../core/masking/pg-types.js';
import { maskedValue } from '../../../core/masking/typed-mask.js';

const textOf = (oid: number) => maskedValue(oid, 0)?.toString('utf8');
const binaryOf = (oid: number) => {
  const bytes = maskedValue(oid, 1);
  assert.ok(bytes, `no binary value for ${oid}`);
  return bytes;
};

describe('maskedValue', () => {
  it('gives text types four stars in both formats', () => {
    for (const oid of [PgType.text, PgType.varchar, PgType.bpchar, PgType.name, PgType.unknown]) {
      assert.equal(textOf(oid), '****');
      assert.equal(binaryOf(oid).toString('utf8'), '****');
    }
  });

  it('gives integers and floats zero', () => {
    for (const [oid, width] of [[PgType.int2, 2], [PgType.int4, 4], [PgType.int8, 8]] as const) {
      assert.equal(textOf(oid), '0');
      const bytes = binaryOf(oid);
      assert.equal(bytes.length, width);
      assert.equal(bytes.readIntBE(0, Math.min(width, 6)), 0);
      if (width === 8) assert.equal(bytes.readBigInt64BE(0), 0n);
    }
    assert.equal(textOf(PgType.float4), '0');
    assert.equal(binaryOf(PgType.float4).readFloatBE(0), 0);
    assert.equal(textOf(PgType.float8), '0');
    assert.equal(binaryOf(PgType.float8).readDoubleBE(0), 0);
  });

  it('gives numeric zero: no digits, weight 0, positive, scale 0', () => {
    assert.equal(textOf(PgType.numeric), '0');
    const bytes = binaryOf(PgType.numeric);
    assert.equal(bytes.length, 8);
    const [ndigits, weight, sign, dscale] = [0, 2, 4, 6].map((offset) => bytes.readInt16BE(offset));
    assert.deepEqual({ ndigits, weight, sign, dscale }, { ndigits: 0, weight: 0, sign: 0x0000, dscale: 0 });
  });

  it('gives bool false', () => {
    assert.equal(textOf(PgType.bool), 'f');
    assert.deepEqual([...binaryOf(PgType.bool)], [0]);
  });

  it('gives dates and timestamps the PostgreSQL epoch, 2000-01-01', () => {
    const epoch = Date.UTC(2000, 0, 1);
    assert.equal(textOf(PgType.date), '2000-01-01');
    assert.equal(epoch + binaryOf(PgType.date).readInt32BE(0) * 86_400_000, Date.parse('2000-01-01T00:00:00Z'));
    assert.equal(textOf(PgType.timestamp), '2000-01-01 00:00:00');
    assert.equal(textOf(PgType.timestamptz), '2000-01-01 00:00:00+00');
    assert.equal(Date.parse(textOf(PgType.timestamptz)!.replace(' ', 'T').replace('+00', 'Z')), epoch);
    for (const oid of [PgType.timestamp, PgType.timestamptz]) {
      const microseconds = binaryOf(oid).readBigInt64BE(0);
      assert.equal(epoch + Number(microseconds / 1000n), Date.parse('2000-01-01T00:00:00Z'));
    }
  });

  it('gives uuid the nil UUID', () => {
    assert.equal(textOf(PgType.uuid), '00000000-0000-0000-0000-000000000000');
    assert.equal(binaryOf(PgType.uuid).toString('hex'), textOf(PgType.uuid)!.replaceAll('-', ''));
  });

  it('gives json and jsonb a JSON string', () => {
    assert.equal(JSON.parse(textOf(PgType.json)!), '****');
    assert.equal(JSON.parse(binaryOf(PgType.json).toString('utf8')), '****');
    assert.equal(JSON.parse(textOf(PgType.jsonb)!), '****');
    const jsonb = binaryOf(PgType.jsonb);
    assert.equal(jsonb[0], 1, 'jsonb format version');
    assert.equal(JSON.parse(jsonb.subarray(1).toString('utf8')), '****');
  });

  it('gives bytea no bytes', () => {
    assert.equal(textOf(PgType.bytea), '\\x');
    assert.equal(binaryOf(PgType.bytea).length, 0);
  });

  it('gives inet 0.0.0.0/32', () => {
    assert.equal(textOf(PgType.inet), '0.0.0.0');
    const bytes = binaryOf(PgType.inet);
    const [family, bits, isCidr, length] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    assert.deepEqual({ family, bits, isCidr, length }, { family: 2, bits: 32, isCidr: 0, length: 4 });
    assert.equal([...bytes.subarray(4)].join('.'), '0.0.0.0');
    assert.equal(bytes.length, 4 + length!);
  });

  it('answers null (send SQL NULL) for arrays and types it does not know', () => {
    for (const oid of [1009 /* text[] */, 1007 /* int4[] */, 3904 /* int4range */, 600 /* point */, 123_456 /* a user type */]) {
      assert.equal(maskedValue(oid, 0), null);
      assert.equal(maskedValue(oid, 1), null);
    }
  });
});
