import assert from 'node:assert/strict';
import { assertThrowsCode } from '../../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import { describe, it } from 'node:test';
import {
  AuthenticationKind,
  BackendCode,
  BackendParser,
  ProtocolError,
  StartupCode,
  serialize,
  type BackendMessage,
  type BufferWriter,
  type BackendParserOptions,
  type ProtocolErrorCode,
} from '../../../proxy-fleet/postgres/protocol/index.js';
import { everyChunking } from '../../../proxy-fleet/postgres/protocol/testing/chunking.js';
import {
  backendMessages,
  bodyOf,
  decodedFields,
  typedFrame,
} from '../../../proxy-fleet/postgres/protocol/testing/test-buffers.js';

function parseChunks(chunks: Buffer[], options?: BackendParserOptions): BackendMessage[] {
  const parser = new BackendParser(options);
  return chunks.flatMap((chunk) => parser.push(chunk));
}

/** Whole, cut at every offset and byte by byte: the same messages, whose raw bytes add up to the stream. */
function parseEveryWay(stream: Buffer): BackendMessage[] {
  const expected = parseChunks([stream]);
  for (const { label, chunks } of everyChunking(stream)) {
    assert.deepStrictEqual(parseChunks(chunks), expected, label);
  }
  assert.deepStrictEqual(Buffer.concat(expected.map((message) => message.raw)), stream);
  return expected;
}

function assertProtocolError(action: () => unknown, code: ProtocolErrorCode): void {
  assertThrowsCode(action, ProtocolError, code);
}

interface BackendCase {
  label: string;
  bytes: Buffer;
  expected: Record<string, unknown>;
}

const md5Salt = Buffer.from([9, 8, 7, 6]);
const serverFirst = Buffer.from('r=abc,s=c2FsdA==,i=4096');
const serverFinal = Buffer.from('v=c2lnbmF0dXJl');
const emptyData = Buffer.alloc(0);
const saslList = bodyOf((writer) => writer.addCString('SCRAM-SHA-256-PLUS').addCString('SCRAM-SHA-256').addByte(0));
const rowDescription = backendMessages.rowDescription([
  { name: 'id', tableOid: 16384, columnNumber: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
]);

const decodedCases: BackendCase[] = [
  {
    label: 'AuthenticationOk',
    bytes: serialize.authenticationOk(),
    expected: { name: 'authentication', kind: AuthenticationKind.ok, data: emptyData },
  },
  {
    label: 'AuthenticationCleartextPassword',
    bytes: serialize.authenticationCleartextPassword(),
    expected: { name: 'authentication', kind: AuthenticationKind.cleartextPassword, data: emptyData },
  },
  {
    label: 'AuthenticationMD5Password',
    bytes: backendMessages.authenticationMd5Password(md5Salt),
    expected: { name: 'authentication', kind: AuthenticationKind.md5Password, data: md5Salt },
  },
  {
    label: 'AuthenticationSASL',
    bytes: backendMessages.authenticationSasl(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
    expected: {
      name: 'authentication',
      kind: AuthenticationKind.sasl,
      data: saslList,
      saslMechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    },
  },
  {
    label: 'AuthenticationSASLContinue',
    bytes: backendMessages.authenticationSaslContinue(serverFirst),
    expected: { name: 'authentication', kind: AuthenticationKind.saslContinue, data: serverFirst },
  },
  {
    label: 'AuthenticationSASLFinal',
    bytes: backendMessages.authenticationSaslFinal(serverFinal),
    expected: { name: 'authentication', kind: AuthenticationKind.saslFinal, data: serverFinal },
  },
  {
    label: 'AuthenticationGSSContinue',
    bytes: backendMessages.authentication(AuthenticationKind.gssContinue, Buffer.from([1, 2, 3])),
    expected: { name: 'authentication', kind: AuthenticationKind.gssContinue, data: Buffer.from([1, 2, 3]) },
  },
  {
    label: 'ParameterStatus',
    bytes: serialize.parameterStatus('server_version', '18.0'),
    expected: { name: 'parameterStatus', parameter: 'server_version', value: '18.0' },
  },
  {
    label: 'BackendKeyData (3.0)',
    bytes: serialize.backendKeyData(31337, Buffer.from([1, 2, 3, 4])),
    expected: { name: 'backendKeyData', processId: 31337, secretKey: Buffer.from([1, 2, 3, 4]) },
  },
  {
    label: 'BackendKeyData (3.2)',
    bytes: serialize.backendKeyData(31337, Buffer.alloc(32, 0xab)),
    expected: { name: 'backendKeyData', processId: 31337, secretKey: Buffer.alloc(32, 0xab) },
  },
  { label: 'ReadyForQuery idle', bytes: serialize.readyForQuery('I'), expected: { name: 'readyForQuery', status: 'I' } },
  { label: 'ReadyForQuery in transaction', bytes: serialize.readyForQuery('T'), expected: { name: 'readyForQuery', status: 'T' } },
  { label: 'ReadyForQuery failed transaction', bytes: serialize.readyForQuery('E'), expected: { name: 'readyForQuery', status: 'E' } },
  {
    label: 'ErrorResponse',
    bytes: serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'permission denied', detail: 'd', hint: 'h' }),
    expected: {
      name: 'errorResponse',
      fields: { S: 'ERROR', V: 'ERROR', C: '42501', M: 'permission denied', D: 'd', H: 'h' },
    },
  },
  {
    label: 'NoticeResponse',
    bytes: serialize.noticeResponse({ severity: 'WARNING', code: '01000', message: 'careful' }),
    expected: { name: 'noticeResponse', fields: { S: 'WARNING', V: 'WARNING', C: '01000', M: 'careful' } },
  },
  {
    label: 'NegotiateProtocolVersion',
    bytes: serialize.negotiateProtocolVersion(0, ['_pq_.a', '_pq_.b']),
    expected: {
      name: 'negotiateProtocolVersion',
      protocolVersion: StartupCode.protocol3_0,
      unrecognizedOptions: ['_pq_.a', '_pq_.b'],
    },
  },
];

const otherCases: { label: string; bytes: Buffer }[] = [
  { label: 'RowDescription', bytes: rowDescription },
  { label: 'DataRow', bytes: backendMessages.dataRow([Buffer.from('1'), null, Buffer.alloc(0)]) },
  { label: 'CommandComplete', bytes: backendMessages.commandComplete('SELECT 1') },
  { label: 'EmptyQueryResponse', bytes: backendMessages.empty(BackendCode.emptyQueryResponse) },
  { label: 'ParseComplete', bytes: backendMessages.empty(BackendCode.parseComplete) },
  { label: 'BindComplete', bytes: backendMessages.empty(BackendCode.bindComplete) },
  { label: 'CloseComplete', bytes: backendMessages.empty(BackendCode.closeComplete) },
  { label: 'NoData', bytes: backendMessages.empty(BackendCode.noData) },
  { label: 'PortalSuspended', bytes: backendMessages.empty(BackendCode.portalSuspended) },
  { label: 'ParameterDescription', bytes: backendMessages.parameterDescription([23, 25]) },
  { label: 'CopyInResponse', bytes: backendMessages.copyResponse(BackendCode.copyInResponse, 0, [0, 0]) },
  { label: 'CopyOutResponse', bytes: backendMessages.copyResponse(BackendCode.copyOutResponse, 1, [1]) },
  { label: 'CopyBothResponse', bytes: backendMessages.copyResponse(BackendCode.copyBothResponse, 0, []) },
  { label: 'CopyData', bytes: backendMessages.copyData(Buffer.from('1\tx\n')) },
  { label: 'CopyDone', bytes: backendMessages.empty(BackendCode.copyDone) },
  { label: 'NotificationResponse', bytes: backendMessages.notificationResponse(7, 'jobs', 'ready') },
  { label: 'FunctionCallResponse', bytes: backendMessages.functionCallResponse(Buffer.from([0, 1])) },
];

describe('BackendParser: every message, whole, split at every offset, byte by byte, coalesced', () => {
  const following = serialize.readyForQuery('I');
  for (const { label, bytes, expected } of decodedCases) {
    it(label, () => {
      const [message, next] = parseEveryWay(Buffer.concat([bytes, following])) as [BackendMessage, BackendMessage];
      assert.deepStrictEqual(decodedFields(message), expected);
      assert.deepStrictEqual(message.raw, bytes);
      assert.equal(next.name, 'readyForQuery');
    });
  }

  for (const { label, bytes } of otherCases) {
    it(`${label} (forwarded undecoded)`, () => {
      const [message, next] = parseEveryWay(Buffer.concat([bytes, following])) as [BackendMessage, BackendMessage];
      assert.deepStrictEqual(decodedFields(message), { name: 'other', code: bytes[0] });
      assert.deepStrictEqual(message.raw, bytes);
      assert.equal(next.name, 'readyForQuery');
    });
  }

  it('all of them in one stream', () => {
    const cases = [...decodedCases, ...otherCases];
    const messages = parseEveryWay(Buffer.concat(cases.map((backendCase) => backendCase.bytes)));
    assert.equal(messages.length, cases.length);
  });

  it('keeps error fields in a null-prototype object', () => {
    const bytes = backendMessages.responseFields(BackendCode.errorResponse, [['M', 'x']]);
    const [message] = new BackendParser().push(bytes);
    assert.equal(message?.name, 'errorResponse');
    if (message?.name !== 'errorResponse') return;
    assert.equal(Object.getPrototypeOf(message.fields), null);
  });
});

describe('BackendParser: hostile input', () => {
  it('refuses a length below 4', () => {
    for (const length of [3, 0, -1]) {
      assertProtocolError(() => new BackendParser().push(typedFrame(BackendCode.dataRow, Buffer.alloc(0), length)), 'MALFORMED_MESSAGE');
    }
  });

  it('refuses a length over the cap from the header alone', () => {
    const header = (length: number) => typedFrame(BackendCode.dataRow, Buffer.alloc(0), length).subarray(0, 5);
    assertProtocolError(() => new BackendParser({ maxMessageBytes: 1000 }).push(header(1001)), 'MESSAGE_TOO_LARGE');
    assertProtocolError(() => new BackendParser().push(header(64 * 1024 * 1024 + 1)), 'MESSAGE_TOO_LARGE');
    const parser = new BackendParser();
    assert.deepStrictEqual(parser.push(header(64 * 1024 * 1024)), []);
    assert.equal(parser.bufferedBytes, 5);
  });

  it('caps message types that are never long at 30000 bytes, like libpq', () => {
    for (const code of [BackendCode.readyForQuery, BackendCode.authentication, BackendCode.parameterStatus, BackendCode.commandComplete]) {
      assertProtocolError(() => new BackendParser().push(typedFrame(code, Buffer.alloc(0), 30_001).subarray(0, 5)), 'MESSAGE_TOO_LARGE');
    }
    assert.deepStrictEqual(new BackendParser().push(typedFrame(BackendCode.errorResponse, Buffer.alloc(0), 30_001).subarray(0, 5)), []);
  });

  it('refuses an unknown type byte', () => {
    for (const code of [0x00, 0x51 /* 'Q', a frontend message */, 0x78]) {
      assertProtocolError(() => new BackendParser().push(typedFrame(code, Buffer.alloc(0))), 'UNKNOWN_MESSAGE');
    }
  });

  it('refuses an unknown authentication request', () => {
    assertProtocolError(() => new BackendParser().push(backendMessages.authentication(99)), 'UNKNOWN_MESSAGE');
  });

  it('refuses malformed decoded messages', () => {
    const negotiation = (build: (writer: BufferWriter) => unknown) =>
      typedFrame(BackendCode.negotiateProtocolVersion, bodyOf(build));
    const malformed = [
      backendMessages.authentication(AuthenticationKind.ok, Buffer.from([0])),
      backendMessages.authentication(AuthenticationKind.cleartextPassword, Buffer.from([0])),
      backendMessages.authenticationMd5Password(Buffer.from([1, 2, 3])),
      backendMessages.authenticationMd5Password(Buffer.from([1, 2, 3, 4, 5])),
      backendMessages.authentication(AuthenticationKind.sasl, Buffer.from('SCRAM-SHA-256\0')), // list not closed
      backendMessages.authenticationSasl([]), // nothing offered
      typedFrame(BackendCode.authentication, Buffer.from([0, 0])), // kind truncated
      typedFrame(BackendCode.parameterStatus, bodyOf((writer) => writer.addCString('TimeZone'))),
      typedFrame(BackendCode.backendKeyData, bodyOf((writer) => writer.addInt32(1).addBytes(Buffer.alloc(3)))),
      typedFrame(BackendCode.backendKeyData, bodyOf((writer) => writer.addInt32(1).addBytes(Buffer.alloc(257)))),
      typedFrame(BackendCode.readyForQuery, Buffer.from('X')),
      typedFrame(BackendCode.readyForQuery, Buffer.from('II')),
      typedFrame(BackendCode.readyForQuery, Buffer.alloc(0)),
      typedFrame(BackendCode.errorResponse, bodyOf((writer) => writer.addString('M').addString('unterminated'))),
      typedFrame(BackendCode.errorResponse, bodyOf((writer) => writer.addString('M').addCString('no final zero'))),
      backendMessages.responseFields(BackendCode.noticeResponse, [['M', 'a'], ['M', 'b']]),
      negotiation((writer) => writer.addInt32(StartupCode.protocol3_0).addInt32(1000).addCString('_pq_.a')),
      negotiation((writer) => writer.addInt32(StartupCode.protocol3_0).addInt32(-1)),
      negotiation((writer) => writer.addInt32(StartupCode.protocol3_0).addInt32(0).addByte(0)),
      negotiation((writer) => writer.addInt32(0).addInt32(0)), // a bare minor, read as protocol 0.0
      negotiation((writer) => writer.addInt32(2 << 16).addInt32(0)),
    ];
    for (const message of malformed) assertProtocolError(() => new BackendParser().push(message), 'MALFORMED_MESSAGE');
  });

  it('keeps failing once it has failed', () => {
    const parser = new BackendParser();
    assertProtocolError(() => parser.push(typedFrame(0x00, Buffer.alloc(0))), 'UNKNOWN_MESSAGE');
    assertProtocolError(() => parser.push(serialize.readyForQuery('I')), 'UNKNOWN_MESSAGE');
  });
});
