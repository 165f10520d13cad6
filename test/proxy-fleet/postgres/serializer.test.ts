import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BackendParser,
  BufferReader,
  BufferWriter,
  FrontendParser,
  ProtocolError,
  StartupCode,
  serialize,
} from '../../../proxy-fleet/postgres/protocol/index.js';

function parseBackend(bytes: Buffer) {
  const messages = new BackendParser().push(bytes);
  assert.equal(messages.length, 1);
  return messages[0];
}

describe('serialize', () => {
  it('builds the protocol-fixed packets of the PostgreSQL docs', () => {
    // SSLRequest: Int32(8), Int32(80877103); GSSENCRequest: Int32(8), Int32(80877104).
    assert.deepStrictEqual(serialize.sslRequest(), Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    assert.deepStrictEqual(serialize.gssEncRequest(), Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]));
    assert.deepStrictEqual(serialize.sslRefused(), Buffer.from('N'));
    assert.deepStrictEqual(serialize.gssEncRefused(), Buffer.from('N'));
    assert.deepStrictEqual(serialize.sync(), Buffer.from([0x53, 0, 0, 0, 4]));
    assert.deepStrictEqual(serialize.terminate(), Buffer.from([0x58, 0, 0, 0, 4]));
    assert.deepStrictEqual(serialize.authenticationOk(), Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]));
  });

  it('writes a startup packet with protocol 3.0 unless told otherwise', () => {
    const [message] = new FrontendParser().push(serialize.startup({ user: 'alice' }));
    assert.equal(message?.name === 'startup' && message.protocolVersion, StartupCode.protocol3_0);
    const [latest] = new FrontendParser().push(serialize.startup({ user: 'alice' }, StartupCode.protocol3_2));
    assert.equal(latest?.name === 'startup' && latest.protocolVersion, StartupCode.protocol3_2);
  });

  it('writes NegotiateProtocolVersion with the whole version, as PostgreSQL does', () => {
    const message = parseBackend(serialize.negotiateProtocolVersion(0, ['_pq_.x']));
    assert.deepStrictEqual(message?.name === 'negotiateProtocolVersion' && message.protocolVersion, StartupCode.protocol3_0);
    assert.throws(() => serialize.negotiateProtocolVersion(0x10000, []), RangeError);
  });

  it('writes error fields S, V, C, M, D, H in that order', () => {
    const message = parseBackend(
      serialize.errorResponse({ severity: 'FATAL', code: '28000', message: 'no', detail: 'why', hint: 'how' }),
    );
    assert.equal(message?.name, 'errorResponse');
    if (message?.name !== 'errorResponse') return;
    assert.deepStrictEqual(Object.entries(message.fields), [
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '28000'],
      ['M', 'no'],
      ['D', 'why'],
      ['H', 'how'],
    ]);
  });

  it('leaves out absent optional fields', () => {
    const message = parseBackend(serialize.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'hello' }));
    assert.equal(message?.name, 'noticeResponse');
    if (message?.name !== 'noticeResponse') return;
    assert.deepStrictEqual(Object.keys(message.fields), ['S', 'V', 'C', 'M']);
  });

  it('lays out SASLInitialResponse as mechanism, Int32 length, data', () => {
    const data = Buffer.from('n,,n=,r=abc');
    const [, message] = new FrontendParser().push(
      Buffer.concat([serialize.startup({ user: 'alice' }), serialize.saslInitialResponse('SCRAM-SHA-256', data)]),
    );
    assert.equal(message?.name, 'password');
    if (message?.name !== 'password') return;
    const reader = new BufferReader(message.data);
    assert.equal(reader.cstring(), 'SCRAM-SHA-256');
    assert.equal(reader.int32(), data.length);
    assert.deepStrictEqual(reader.rest(), data);
  });

  it('refuses a NUL inside any string rather than let it end the field early', () => {
    assert.throws(() => serialize.query('SELECT 1\0; DROP TABLE t'), RangeError);
    assert.throws(() => serialize.parameterStatus('a\0b', 'c'), RangeError);
    assert.throws(() => serialize.startup({ user: 'a\0' }), RangeError);
    assert.throws(() => serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'x\0Mforged' }), RangeError);
  });

  it('refuses values the wire cannot carry', () => {
    assert.throws(() => serialize.errorResponse({ severity: 'ERROR', code: '4250', message: 'x' }), RangeError);
    assert.throws(() => serialize.errorResponse({ severity: 'ERROR', code: '42p01', message: 'x' }), RangeError);
    assert.throws(() => serialize.bind('', '', new Array<Buffer | null>(65_536).fill(null)), RangeError);
    assert.throws(() => serialize.execute('', 2 ** 32), RangeError);
    assert.throws(() => serialize.cancelRequest(1, Buffer.alloc(3)), RangeError);
    assert.throws(() => serialize.backendKeyData(1, Buffer.alloc(257)), RangeError);
    assert.throws(() => serialize.startup({ '': 'x' }), RangeError);
  });

  it('returns a fresh buffer for every message', () => {
    const first = serialize.query('SELECT 1');
    const copy = Buffer.from(first);
    serialize.query('SELECT 2');
    assert.deepStrictEqual(first, copy);
  });
});

describe('BufferWriter', () => {
  it('prefixes the length, and the type byte when given', () => {
    const typed = new BufferWriter().addCString('ab').flush(0x51);
    assert.equal(typed[0], 0x51);
    assert.equal(typed.readInt32BE(1), 4 + 3);
    const untyped = new BufferWriter().addInt32(7).flush();
    assert.equal(untyped.length, 8);
    assert.equal(untyped.readInt32BE(0), 8);
    assert.equal(untyped.readInt32BE(4), 7);
  });

  it('grows past its initial size and starts over after flush', () => {
    const writer = new BufferWriter(8);
    const big = writer.addBytes(Buffer.alloc(1000, 1)).flush(0x64);
    assert.equal(big.length, 1005);
    const small = writer.addInt16(-1).flush(0x64);
    assert.equal(small.length, 7);
    assert.equal(small.readInt16BE(5), -1);
    assert.equal(big[1004], 1);
  });

  it('range-checks integers', () => {
    assert.throws(() => new BufferWriter().addInt16(0x10000), RangeError);
    assert.throws(() => new BufferWriter().addInt16(1.5), RangeError);
    assert.throws(() => new BufferWriter().addInt32(-0x80000001), RangeError);
    assert.throws(() => new BufferWriter().addByte(256), RangeError);
    assert.throws(() => new BufferWriter().flush(300), RangeError);
  });
});

describe('BufferReader', () => {
  it('reads signed and unsigned integers', () => {
    const bytes = new BufferWriter().addInt16(-2).addInt16(0xfffe).addInt32(-2).addInt32(0xfffffffe).flush().subarray(4);
    const reader = new BufferReader(bytes);
    assert.equal(reader.int16(), -2);
    assert.equal(reader.uint16(), 0xfffe);
    assert.equal(reader.int32(), -2);
    assert.equal(reader.uint32(), 0xfffffffe);
    reader.expectEnd();
  });

  it('throws MALFORMED_MESSAGE on every overrun', () => {
    const reads: ((reader: BufferReader) => unknown)[] = [
      (reader) => reader.int32(),
      (reader) => reader.int16(),
      (reader) => reader.bytes(4),
      (reader) => reader.bytes(-1),
      (reader) => reader.cstring(),
      (reader) => reader.expectEnd(),
    ];
    for (const read of reads) {
      assert.throws(
        () => read(new BufferReader(Buffer.from([0x41]), 0, 'Test')),
        (error: unknown) => error instanceof ProtocolError && error.code === 'MALFORMED_MESSAGE' && error.message.startsWith('Test:'),
      );
    }
  });
});
