import assert from 'node:assert/strict';
import { assertThrowsCode } from '../../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import { describe, it } from 'node:test';
import {
  FrontendCode,
  FrontendParser,
  ProtocolError,
  StartupCode,
  decodePasswordMessage,
  serialize,
  type BufferWriter,
  type FrontendMessage,
  type FrontendParserOptions,
  type ProtocolErrorCode,
} from '../../../proxy-fleet/postgres/protocol/index.js';
import { everyChunking } from '../../../proxy-fleet/postgres/protocol/testing/chunking.js';
import {
  bodyOf,
  decodedFields,
  startupFrame,
  typedFrame,
} from '../../../proxy-fleet/postgres/protocol/testing/test-buffers.js';

const startup = serialize.startup({ user: 'alice', database: 'orders' });

/** Pushes each segment's chunks, segment after segment, into one parser. */
function parseSegments(chunksPerSegment: Buffer[][], options?: FrontendParserOptions): FrontendMessage[] {
  const parser = new FrontendParser(options);
  return chunksPerSegment.flatMap((chunks) => chunks.flatMap((chunk) => parser.push(chunk)));
}

/**
 * Parses the segments (each one what a client sends before waiting for an answer) whole, then
 * with each segment cut at every offset and byte by byte; every way must give the same messages,
 * whose raw bytes add up to the input. Returns the messages.
 */
function parseEveryWay(segments: Buffer[]): FrontendMessage[] {
  const expected = parseSegments(segments.map((segment) => [segment]));
  segments.forEach((segment, index) => {
    for (const { label, chunks } of everyChunking(segment)) {
      const actual = parseSegments(segments.map((other, i) => (i === index ? chunks : [other])));
      assert.deepStrictEqual(actual, expected, `segment ${index}, ${label}`);
    }
  });
  assert.deepStrictEqual(Buffer.concat(expected.map((message) => message.raw)), Buffer.concat(segments));
  return expected;
}

function assertProtocolError(action: () => unknown, code: ProtocolErrorCode): void {
  assertThrowsCode(action, ProtocolError, code);
}

/** A parser that has accepted a StartupMessage and is reading typed messages. */
function typedParser(options?: FrontendParserOptions): FrontendParser {
  const parser = new FrontendParser(options);
  assert.equal(parser.push(startup).length, 1);
  return parser;
}

function startupBody(build: (writer: BufferWriter) => unknown): Buffer {
  return startupFrame(bodyOf(build));
}

describe('FrontendParser: startup phase', () => {
  it('reads a 3.0 StartupMessage, then switches to typed messages', () => {
    const packet = serialize.startup({ user: 'alice', database: 'orders', application_name: 'psql', options: '' });
    const [message, query] = parseEveryWay([Buffer.concat([packet, serialize.query('SELECT 1')])]);
    assert.deepStrictEqual(decodedFields(message as FrontendMessage), {
      name: 'startup',
      protocolVersion: StartupCode.protocol3_0,
      parameters: { user: 'alice', database: 'orders', application_name: 'psql', options: '' },
    });
    assert.equal(query?.name, 'query');
  });

  it('reads a 3.2 StartupMessage with a protocol option', () => {
    const packet = serialize.startup({ user: 'alice', '_pq_.extension': 'on' }, StartupCode.protocol3_2);
    const [message] = parseEveryWay([packet]);
    assert.deepStrictEqual(decodedFields(message as FrontendMessage), {
      name: 'startup',
      protocolVersion: StartupCode.protocol3_2,
      parameters: { user: 'alice', '_pq_.extension': 'on' },
    });
  });

  it('keeps startup parameters in a null-prototype object', () => {
    const [message] = parseEveryWay([serialize.startup({ user: 'alice', ['__proto__']: 'x' })]);
    assert.equal(message?.name, 'startup');
    if (message?.name !== 'startup') return;
    assert.equal(Object.getPrototypeOf(message.parameters), null);
    assert.equal(message.parameters['__proto__'], 'x');
    assert.equal(message.parameters['constructor'], undefined);
  });

  it('reads an SSLRequest, then the startup packet sent after the answer', () => {
    const messages = parseEveryWay([serialize.sslRequest(), startup]);
    assert.deepStrictEqual(
      messages.map((message) => message.name),
      ['sslRequest', 'startup'],
    );
  });

  it('reads a GSSENCRequest, then an SSLRequest, then the startup packet', () => {
    const messages = parseEveryWay([serialize.gssEncRequest(), serialize.sslRequest(), startup]);
    assert.deepStrictEqual(
      messages.map((message) => message.name),
      ['gssEncRequest', 'sslRequest', 'startup'],
    );
  });

  it('reads a CancelRequest with a 4-byte (3.0) and a 32-byte (3.2) key', () => {
    for (const secretKey of [Buffer.from([1, 2, 3, 4]), Buffer.alloc(32, 7)]) {
      const [message] = parseEveryWay([serialize.cancelRequest(4242, secretKey)]);
      assert.deepStrictEqual(decodedFields(message as FrontendMessage), {
        name: 'cancelRequest',
        processId: 4242,
        secretKey,
      });
    }
  });

  it('accepts a startup packet of exactly maxStartupBytes after the length word', () => {
    const fixed = bodyOf((writer) => writer.addInt32(StartupCode.protocol3_0).addCString('application_name').addByte(0).addByte(0));
    const value = 'v'.repeat(10_000 - fixed.length);
    const packet = serialize.startup({ application_name: value });
    assert.equal(packet.length, 10_004);
    const [message] = new FrontendParser().push(packet);
    assert.equal(message?.name, 'startup');
    assertProtocolError(() => new FrontendParser().push(serialize.startup({ application_name: `${value}v` })), 'MESSAGE_TOO_LARGE');
  });

  it('reports the bytes of an incomplete message as buffered', () => {
    const parser = new FrontendParser();
    assert.deepStrictEqual(parser.push(startup.subarray(0, 3)), []);
    assert.equal(parser.bufferedBytes, 3);
    assert.deepStrictEqual(parser.push(startup.subarray(3, 10)), []);
    assert.equal(parser.bufferedBytes, 10);
    assert.equal(parser.push(startup.subarray(10)).length, 1);
    assert.equal(parser.bufferedBytes, 0);
  });
});

interface TypedCase {
  label: string;
  bytes: Buffer;
  expected: Record<string, unknown>;
}

const saslPayload = Buffer.from('n,,n=,r=rOprNGfwEbeRWgbNEkqO');

const typedCases: TypedCase[] = [
  { label: 'Query', bytes: serialize.query("SELECT 'ü'"), expected: { name: 'query', text: "SELECT 'ü'" } },
  {
    label: 'PasswordMessage',
    bytes: serialize.password('token'),
    expected: { name: 'password', data: bodyOf((writer) => writer.addCString('token')) },
  },
  {
    label: 'SASLInitialResponse',
    bytes: serialize.saslInitialResponse('SCRAM-SHA-256', saslPayload),
    expected: {
      name: 'password',
      data: bodyOf((writer) => writer.addCString('SCRAM-SHA-256').addInt32(saslPayload.length).addBytes(saslPayload)),
    },
  },
  { label: 'SASLResponse', bytes: serialize.saslResponse(saslPayload), expected: { name: 'password', data: saslPayload } },
  {
    label: 'Parse',
    bytes: serialize.parse('s1', 'SELECT $1::int4, $2', [23, 0xffffffff]),
    expected: { name: 'parse', statement: 's1', text: 'SELECT $1::int4, $2', paramTypes: [23, 0xffffffff] },
  },
  {
    label: 'Parse without parameter types',
    bytes: serialize.parse('', 'SELECT 1'),
    expected: { name: 'parse', statement: '', text: 'SELECT 1', paramTypes: [] },
  },
  {
    label: 'Bind',
    bytes: serialize.bind('p1', 's1', [Buffer.from('42'), null, Buffer.alloc(0)], { params: [0], results: [1, 0] }),
    expected: {
      name: 'bind',
      portal: 'p1',
      statement: 's1',
      paramFormats: [0],
      params: [Buffer.from('42'), null, Buffer.alloc(0)],
      resultFormats: [1, 0],
    },
  },
  {
    label: 'Bind without parameters',
    bytes: serialize.bind('', '', []),
    expected: { name: 'bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
  },
  {
    label: 'Describe statement',
    bytes: serialize.describe('S', 's1'),
    expected: { name: 'describe', target: 'S', objectName: 's1' },
  },
  {
    label: 'Describe portal',
    bytes: serialize.describe('P', ''),
    expected: { name: 'describe', target: 'P', objectName: '' },
  },
  { label: 'Execute', bytes: serialize.execute('p1', 10), expected: { name: 'execute', portal: 'p1', maxRows: 10 } },
  { label: 'Close statement', bytes: serialize.close('S', 's1'), expected: { name: 'close', target: 'S', objectName: 's1' } },
  { label: 'Close portal', bytes: serialize.close('P', 'p1'), expected: { name: 'close', target: 'P', objectName: 'p1' } },
  { label: 'Sync', bytes: serialize.sync(), expected: { name: 'sync' } },
  { label: 'Flush', bytes: serialize.flush(), expected: { name: 'flush' } },
  {
    label: 'FunctionCall',
    bytes: serialize.functionCall(1598, [Buffer.from([1, 2]), null], { args: [1], result: 1 }),
    expected: { name: 'functionCall', functionOid: 1598, argFormats: [1], args: [Buffer.from([1, 2]), null], resultFormat: 1 },
  },
  {
    label: 'CopyData',
    bytes: serialize.copyData(Buffer.from('1\tx\n')),
    expected: { name: 'copyData', data: Buffer.from('1\tx\n') },
  },
  { label: 'CopyDone', bytes: serialize.copyDone(), expected: { name: 'copyDone' } },
  { label: 'CopyFail', bytes: serialize.copyFail('client gave up'), expected: { name: 'copyFail', message: 'client gave up' } },
];

describe('FrontendParser: typed messages, whole, split at every offset, byte by byte, coalesced', () => {
  const following = serialize.query('SELECT 2');
  for (const { label, bytes, expected } of typedCases) {
    it(label, () => {
      const messages = parseEveryWay([Buffer.concat([startup, bytes, following])]);
      assert.equal(messages.length, 3);
      const [, message, next] = messages as [FrontendMessage, FrontendMessage, FrontendMessage];
      assert.deepStrictEqual(decodedFields(message), expected);
      assert.deepStrictEqual(message.raw, bytes);
      assert.deepStrictEqual(decodedFields(next), { name: 'query', text: 'SELECT 2' });
    });
  }

  it('Terminate, which ends the stream', () => {
    const messages = parseEveryWay([Buffer.concat([startup, serialize.terminate()])]);
    assert.deepStrictEqual(decodedFields(messages[1] as FrontendMessage), { name: 'terminate' });
  });

  it('every typed message in one stream', () => {
    const stream = Buffer.concat([startup, ...typedCases.map((typedCase) => typedCase.bytes), serialize.terminate()]);
    const messages = parseEveryWay([stream]);
    assert.deepStrictEqual(
      messages.slice(1, -1).map(decodedFields),
      typedCases.map((typedCase) => typedCase.expected),
    );
  });
});

describe('FrontendParser: raw bytes', () => {
  it('are a view of the pushed chunk when a message arrives whole', () => {
    const parser = typedParser();
    const chunk = Buffer.concat([serialize.query('SELECT 1'), serialize.sync()]);
    const messages = parser.push(chunk);
    assert.equal(messages.length, 2);
    for (const message of messages) assert.equal(message.raw.buffer, chunk.buffer);
  });

  it('stay intact after later pushes when a message was assembled across chunks', () => {
    const parser = typedParser();
    const queries = ['SELECT 1', 'SELECT 22', 'SELECT 333', 'SELECT 4444'].map((text) => serialize.query(text));
    const stream = Buffer.concat(queries);
    const received: FrontendMessage[] = [];
    for (let offset = 0; offset < stream.length; offset += 3) {
      received.push(...parser.push(Buffer.from(stream.subarray(offset, offset + 3))));
    }
    assert.deepStrictEqual(
      received.map((message) => message.raw),
      queries,
    );
  });

  it('of a password message decode to the password', () => {
    const [message] = typedParser().push(serialize.password('s3cret'));
    assert.equal(message?.name, 'password');
    if (message?.name !== 'password') return;
    assert.equal(decodePasswordMessage(message), 's3cret');
  });
});

describe('FrontendParser: hostile input', () => {
  it('refuses a typed message length below 4', () => {
    for (const length of [3, 0, -1]) {
      assertProtocolError(() => typedParser().push(typedFrame(FrontendCode.query, Buffer.alloc(0), length)), 'MALFORMED_MESSAGE');
    }
  });

  it('refuses a length over the cap from the header alone', () => {
    const header = typedFrame(FrontendCode.query, Buffer.alloc(0), 1001).subarray(0, 5);
    assertProtocolError(() => typedParser({ maxMessageBytes: 1000 }).push(header), 'MESSAGE_TOO_LARGE');
    const atLimit = typedParser({ maxMessageBytes: 1000 });
    assert.deepStrictEqual(atLimit.push(typedFrame(FrontendCode.query, Buffer.alloc(0), 1000).subarray(0, 5)), []);
    assert.equal(atLimit.bufferedBytes, 5);
  });

  it('refuses a length over the default 64 MiB cap from the header alone', () => {
    const header = typedFrame(FrontendCode.query, Buffer.alloc(0), 64 * 1024 * 1024 + 1).subarray(0, 5);
    assertProtocolError(() => typedParser().push(header), 'MESSAGE_TOO_LARGE');
  });

  it('refuses a header split over two pushes as soon as it is complete', () => {
    const header = typedFrame(FrontendCode.bind, Buffer.alloc(0), 2000).subarray(0, 5);
    const parser = typedParser({ maxMessageBytes: 1000 });
    assert.deepStrictEqual(parser.push(header.subarray(0, 2)), []);
    assertProtocolError(() => parser.push(header.subarray(2)), 'MESSAGE_TOO_LARGE');
  });

  it('does not allocate the declared length before the bytes arrive', () => {
    const before = process.memoryUsage().arrayBuffers;
    const parsers = [1, 2, 3, 4].map(() => typedParser());
    for (const parser of parsers) {
      parser.push(typedFrame(FrontendCode.query, Buffer.alloc(10, 0x41), 64 * 1024 * 1024));
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 16 * 1024 * 1024, `4 parsers holding 15 bytes each grew memory by ${grown} bytes`);
    for (const parser of parsers) assert.equal(parser.bufferedBytes, 15);
  });

  it('caps messages without payload at 10000 bytes and password messages at 65535', () => {
    for (const code of [FrontendCode.sync, FrontendCode.describe, FrontendCode.terminate, FrontendCode.copyFail]) {
      assertProtocolError(() => typedParser().push(typedFrame(code, Buffer.alloc(0), 10_001).subarray(0, 5)), 'MESSAGE_TOO_LARGE');
    }
    assertProtocolError(
      () => typedParser().push(typedFrame(FrontendCode.password, Buffer.alloc(0), 65_536).subarray(0, 5)),
      'MESSAGE_TOO_LARGE',
    );
  });

  it('refuses an unknown type byte', () => {
    for (const code of [0x00, 0x5a /* 'Z', a backend message */, 0x70 + 1]) {
      assertProtocolError(() => typedParser().push(typedFrame(code, Buffer.alloc(0))), 'UNKNOWN_MESSAGE');
    }
  });

  it('refuses a startup packet over 10000 bytes from the header alone', () => {
    const header = startupFrame(Buffer.alloc(0), 10_005);
    assertProtocolError(() => new FrontendParser().push(header), 'MESSAGE_TOO_LARGE');
    assertProtocolError(() => new FrontendParser({ maxStartupBytes: 100 }).push(startupFrame(Buffer.alloc(0), 105)), 'MESSAGE_TOO_LARGE');
  });

  it('refuses a startup packet length below 8', () => {
    for (const length of [7, 4, 0, -8]) {
      assertProtocolError(() => new FrontendParser().push(startupFrame(Buffer.alloc(0), length)), 'MALFORMED_MESSAGE');
    }
  });

  it('refuses malformed startup parameters', () => {
    const version = (writer: BufferWriter) =>
      writer.addInt32(StartupCode.protocol3_0);
    const malformed = [
      startupBody((writer) => version(writer).addCString('user').addCString('alice')), // no final terminator
      startupBody((writer) => version(writer).addCString('user').addByte(0)), // key, then the terminator as value, then nothing
      startupBody((writer) => version(writer).addCString('user').addString('alice')), // unterminated value
      startupBody((writer) => version(writer).addCString('user').addCString('alice').addByte(0).addByte(0x41)), // bytes after the end
      startupBody((writer) => version(writer).addCString('user').addCString('alice').addCString('user').addCString('mallory').addByte(0)),
      startupBody((writer) => version(writer)), // no parameter list at all
    ];
    for (const packet of malformed) assertProtocolError(() => new FrontendParser().push(packet), 'MALFORMED_MESSAGE');
    const latin1 = startupBody((writer) => version(writer).addCString('user').addBytes(Buffer.from([0xe9, 0])).addByte(0));
    assertProtocolError(() => new FrontendParser().push(latin1), 'INVALID_ENCODING');
  });

  it('refuses protocol versions other than 3.x and unknown request codes', () => {
    const version2 = startupBody((writer) => writer.addInt32(2 << 16).addCString('user').addCString('alice').addByte(0));
    assertProtocolError(() => new FrontendParser().push(version2), 'UNSUPPORTED_PROTOCOL_VERSION');
    const unknownRequest = startupBody((writer) => writer.addInt32((1234 << 16) | 5681));
    assertProtocolError(() => new FrontendParser().push(unknownRequest), 'UNKNOWN_MESSAGE');
  });

  it('refuses a typed message in the startup phase (its type byte makes the length huge)', () => {
    assertProtocolError(() => new FrontendParser().push(serialize.query('SELECT 1')), 'MESSAGE_TOO_LARGE');
  });

  it('refuses bytes received with an SSLRequest or GSSENCRequest (CVE-2021-23214)', () => {
    for (const request of [serialize.sslRequest(), serialize.gssEncRequest()]) {
      assertProtocolError(() => new FrontendParser().push(Buffer.concat([request, startup])), 'BYTES_AFTER_SSL_REQUEST');
      assertProtocolError(() => new FrontendParser().push(Buffer.concat([request, Buffer.from([0])])), 'BYTES_AFTER_SSL_REQUEST');
    }
  });

  it('refuses a malformed or repeated SSLRequest', () => {
    const long = startupBody((writer) => writer.addInt32(StartupCode.sslRequest).addInt32(0));
    assertProtocolError(() => new FrontendParser().push(long), 'MALFORMED_MESSAGE');
    const parser = new FrontendParser();
    parser.push(serialize.sslRequest());
    assertProtocolError(() => parser.push(serialize.sslRequest()), 'UNEXPECTED_MESSAGE');
  });

  it('refuses a CancelRequest with a bad key, and any byte after one', () => {
    for (const size of [3, 257]) {
      assertProtocolError(
        () => new FrontendParser().push(startupBody((writer) => writer.addInt32(StartupCode.cancelRequest).addInt32(1).addBytes(Buffer.alloc(size)))),
        'MALFORMED_MESSAGE',
      );
    }
    const cancel = serialize.cancelRequest(1, Buffer.alloc(4));
    assertProtocolError(() => new FrontendParser().push(Buffer.concat([cancel, startup])), 'UNEXPECTED_MESSAGE');
    const parser = new FrontendParser();
    assert.equal(parser.push(cancel).length, 1);
    assertProtocolError(() => parser.push(Buffer.from([0])), 'UNEXPECTED_MESSAGE');
  });

  it('refuses any byte after Terminate', () => {
    assertProtocolError(() => typedParser().push(Buffer.concat([serialize.terminate(), serialize.sync()])), 'UNEXPECTED_MESSAGE');
    const parser = typedParser();
    parser.push(serialize.terminate());
    assertProtocolError(() => parser.push(serialize.sync()), 'UNEXPECTED_MESSAGE');
  });

  it('refuses truncated strings and bytes after the last field', () => {
    const malformed = [
      typedFrame(FrontendCode.query, Buffer.from('SELECT 1')),
      // A second statement hidden after the terminator must not reach a server that would differ.
      typedFrame(FrontendCode.query, bodyOf((writer) => writer.addCString('SELECT 1').addString('; DROP TABLE t'))),
      typedFrame(FrontendCode.parse, bodyOf((writer) => writer.addCString('s1').addString('SELECT 1'))),
      typedFrame(FrontendCode.bind, bodyOf((writer) => writer.addString('portal'))),
      typedFrame(FrontendCode.describe, bodyOf((writer) => writer.addString('Ss1'))),
      typedFrame(FrontendCode.close, bodyOf((writer) => writer.addString('P'))),
      typedFrame(FrontendCode.execute, bodyOf((writer) => writer.addCString('p1'))),
      typedFrame(FrontendCode.execute, bodyOf((writer) => writer.addCString('p1').addInt32(0).addByte(0))),
      typedFrame(FrontendCode.copyFail, bodyOf((writer) => writer.addString('gave up'))),
      typedFrame(FrontendCode.sync, Buffer.from([0])),
      typedFrame(FrontendCode.copyDone, Buffer.from([0])),
      typedFrame(FrontendCode.describe, bodyOf((writer) => writer.addString('X').addCString('s1'))),
    ];
    for (const message of malformed) assertProtocolError(() => typedParser().push(message), 'MALFORMED_MESSAGE');
  });

  it('refuses Bind and Parse whose counts or lengths exceed the body', () => {
    const bind = (build: (writer: BufferWriter) => unknown) =>
      typedFrame(FrontendCode.bind, bodyOf((writer) => build(writer.addCString('p').addCString('s'))));
    const malformed = [
      bind((writer) => writer.addInt16(0).addInt16(3).addInt32(1).addString('x').addInt16(0)), // 3 values, 1 present
      bind((writer) => writer.addInt16(0).addInt16(0xffff)), // 65535 values, none present
      bind((writer) => writer.addInt16(0).addInt16(1).addInt32(100).addString('x').addInt16(0)), // value longer than the body
      bind((writer) => writer.addInt16(0).addInt16(1).addInt32(-2).addInt16(0)), // negative length other than -1
      bind((writer) => writer.addInt16(5).addInt16(0)), // 5 format codes, none present
      bind((writer) => writer.addInt16(2).addInt16(0).addInt16(0).addInt16(3).addInt32(-1).addInt32(-1).addInt32(-1).addInt16(0)), // 2 formats, 3 values
      bind((writer) => writer.addInt16(0).addInt16(0).addInt16(4).addInt16(0)), // 4 result formats, 1 present
      typedFrame(FrontendCode.parse, bodyOf((writer) => writer.addCString('s').addCString('SELECT $1').addInt16(2).addInt32(23))),
      typedFrame(FrontendCode.parse, bodyOf((writer) => writer.addCString('s').addCString('SELECT $1').addInt16(0xffff))),
      typedFrame(FrontendCode.functionCall, bodyOf((writer) => writer.addInt32(1598).addInt16(0).addInt16(2).addInt32(-1))),
    ];
    for (const message of malformed) assertProtocolError(() => typedParser().push(message), 'MALFORMED_MESSAGE');
  });

  it('refuses strings that are not UTF-8', () => {
    const query = typedFrame(FrontendCode.query, bodyOf((writer) => writer.addBytes(Buffer.from([0x53, 0xc0, 0xaf, 0]))));
    assertProtocolError(() => typedParser().push(query), 'INVALID_ENCODING');
  });

  it('keeps failing once it has failed', () => {
    const parser = typedParser();
    assertProtocolError(() => parser.push(typedFrame(0x00, Buffer.alloc(0))), 'UNKNOWN_MESSAGE');
    assertProtocolError(() => parser.push(serialize.sync()), 'UNKNOWN_MESSAGE');
  });

  it('refuses nonsensical size options', () => {
    assert.throws(() => new FrontendParser({ maxMessageBytes: 0 }), RangeError);
    assert.throws(() => new FrontendParser({ maxStartupBytes: Number.NaN }), RangeError);
  });
});
