import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertThrowsCode } from '../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import {
  CHANNEL_PROTOCOLS,
  Channel,
  ChannelProtocolError,
  chooseProtocol,
  encodeChannelFrame,
  exitCodeOf,
  parseChannelFrame,
  protocolTraits,
  terminalSizeOf,
  type ChannelFrame,
  type ChannelProtocol,
  type ChannelProtocolErrorCode,
} from '../../proxy-fleet/kubernetes/channel-protocol.js';

const BINARY: ChannelProtocol[] = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const BASE64: ChannelProtocol[] = ['v4.base64.channel.k8s.io', 'base64.channel.k8s.io'];

function assertParseError(protocol: ChannelProtocol, message: Buffer, isBinary: boolean, code: ChannelProtocolErrorCode): void {
  assertThrowsCode(() => parseChannelFrame(protocol, message, isBinary), ChannelProtocolError, code);
}

function roundTrip(protocol: ChannelProtocol, message: Buffer, isBinary: boolean): ChannelFrame {
  const frame = parseChannelFrame(protocol, message, isBinary);
  const encoded = encodeChannelFrame(protocol, frame);
  assert.deepEqual(encoded.data, message);
  assert.equal(encoded.isBinary, isBinary);
  return frame;
}

describe('binary channel protocols', () => {
  for (const protocol of BINARY) {
    it(`${protocol}: the first byte is the channel`, () => {
      const frame = roundTrip(protocol, Buffer.from([1, 0x68, 0x69, 0x0a]), true);
      assert.equal(frame.channel, Channel.stdout);
      assert.equal(frame.data.toString(), 'hi\n');
      assert.equal(frame.closes, undefined);
    });

    it(`${protocol}: every channel and arbitrary payloads round-trip exactly`, () => {
      for (let channel = 0; channel <= 4; channel++) {
        for (const size of [0, 1, 2, 3, 255, 4096]) {
          const message = Buffer.concat([Buffer.from([channel]), randomBytes(size)]);
          const frame = roundTrip(protocol, message, true);
          assert.equal(frame.channel, channel);
          assert.equal(frame.data.length, size);
        }
      }
    });

    it(`${protocol}: encodes a masked payload in place of the original`, () => {
      const frame = parseChannelFrame(protocol, Buffer.from('\x02password=hunter2'), true);
      const masked = encodeChannelFrame(protocol, { ...frame, data: Buffer.from('password=*******') });
      assert.deepEqual(masked, { data: Buffer.from('\x02password=*******'), isBinary: true });
    });

    it(`${protocol}: refuses text frames, empty messages and unknown channels`, () => {
      assertParseError(protocol, Buffer.from([1, 0x41]), false, 'UNEXPECTED_FRAME_TYPE');
      assertParseError(protocol, Buffer.alloc(0), true, 'EMPTY_FRAME');
      assertParseError(protocol, Buffer.from([5, 0x41]), true, 'UNKNOWN_CHANNEL');
      assertParseError(protocol, Buffer.from([0x31, 0x41]), true, 'UNKNOWN_CHANNEL');
    });
  }

  it('the kubelet opens a stream with an empty stdout frame', () => {
    const frame = roundTrip('v4.channel.k8s.io', Buffer.from([1]), true);
    assert.deepEqual(frame, { channel: Channel.stdout, data: Buffer.alloc(0) });
  });
});

describe('v5 close frames', () => {
  it('name the closed channel in the second byte', () => {
    for (let channel = 0; channel <= 4; channel++) {
      const frame = roundTrip('v5.channel.k8s.io', Buffer.from([255, channel]), true);
      assert.deepEqual(frame, { channel: Channel.close, data: Buffer.alloc(0), closes: channel });
    }
    assert.deepEqual(encodeChannelFrame('v5.channel.k8s.io', { channel: Channel.close, data: Buffer.alloc(0), closes: Channel.stdin }), {
      data: Buffer.from([255, 0]),
      isBinary: true,
    });
  });

  it('must hold exactly one known channel byte', () => {
    assertParseError('v5.channel.k8s.io', Buffer.from([255]), true, 'MALFORMED_CLOSE');
    assertParseError('v5.channel.k8s.io', Buffer.from([255, 0, 0]), true, 'MALFORMED_CLOSE');
    assertParseError('v5.channel.k8s.io', Buffer.from([255, 9]), true, 'MALFORMED_CLOSE');
  });

  it('do not exist before v5', () => {
    for (const protocol of ['v4.channel.k8s.io', 'channel.k8s.io'] as const) {
      assertParseError(protocol, Buffer.from([255, 0]), true, 'UNKNOWN_CHANNEL');
      assertThrowsCode(() => encodeChannelFrame(protocol, { channel: 255, data: Buffer.alloc(0), closes: 0 }), ChannelProtocolError, 'UNKNOWN_CHANNEL');
    }
    assertThrowsCode(() => encodeChannelFrame('v4.base64.channel.k8s.io', { channel: 255, data: Buffer.alloc(0), closes: 0 }), ChannelProtocolError, 'UNKNOWN_CHANNEL');
  });

  it('refuses inconsistent frames to encode', () => {
    const v5 = 'v5.channel.k8s.io';
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 255, data: Buffer.alloc(0) }), ChannelProtocolError, 'MALFORMED_CLOSE');
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 255, data: Buffer.alloc(0), closes: 7 }), ChannelProtocolError, 'MALFORMED_CLOSE');
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 255, data: Buffer.from('x'), closes: 0 }), ChannelProtocolError, 'INVALID_FRAME');
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 1, data: Buffer.alloc(0), closes: 0 }), ChannelProtocolError, 'INVALID_FRAME');
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 7, data: Buffer.alloc(0) }), ChannelProtocolError, 'UNKNOWN_CHANNEL');
    assertThrowsCode(() => encodeChannelFrame(v5, { channel: 1.5, data: Buffer.alloc(0) }), ChannelProtocolError, 'UNKNOWN_CHANNEL');
  });
});

describe('base64 channel protocols', () => {
  for (const protocol of BASE64) {
    it(`${protocol}: text frames with an ASCII channel digit`, () => {
      // The wsstream documentation's example: "foo\n" on stdin, "\n" on stdout.
      const stdin = roundTrip(protocol, Buffer.from('0Zm9vCg=='), false);
      assert.deepEqual(stdin, { channel: Channel.stdin, data: Buffer.from('foo\n') });
      const stdout = roundTrip(protocol, Buffer.from('1Cg=='), false);
      assert.deepEqual(stdout, { channel: Channel.stdout, data: Buffer.from('\n') });
      assert.deepEqual(roundTrip(protocol, Buffer.from('2'), false), { channel: Channel.stderr, data: Buffer.alloc(0) });
    });

    it(`${protocol}: every channel and arbitrary payloads round-trip exactly`, () => {
      for (let channel = 0; channel <= 4; channel++) {
        for (const size of [0, 1, 2, 3, 4, 5, 1000]) {
          const payload = randomBytes(size);
          const message = Buffer.from(String(channel) + payload.toString('base64'));
          const frame = roundTrip(protocol, message, false);
          assert.equal(frame.channel, channel);
          assert.deepEqual(frame.data, payload);
        }
      }
    });

    it(`${protocol}: refuses binary frames, unknown channels and non-canonical base64`, () => {
      assertParseError(protocol, Buffer.from('1Cg=='), true, 'UNEXPECTED_FRAME_TYPE');
      assertParseError(protocol, Buffer.alloc(0), false, 'EMPTY_FRAME');
      assertParseError(protocol, Buffer.from('5Cg=='), false, 'UNKNOWN_CHANNEL');
      assertParseError(protocol, Buffer.from('/AA=='), false, 'UNKNOWN_CHANNEL');
      assertParseError(protocol, Buffer.from([1, 0x43]), false, 'UNKNOWN_CHANNEL');
      for (const payload of ['Cg', 'Cg=', 'Cg===', 'Ch==', 'C g==', 'Cg==\n', 'Z m9v', 'Zm9v_-==', '\u00ffg==', 'Zm9vCg==Cg==']) {
        assertParseError(protocol, Buffer.from('1' + payload, 'latin1'), false, 'MALFORMED_BASE64');
      }
    });
  }
});

describe('exitCodeOf', () => {
  const status = (body: object): Buffer => Buffer.from(JSON.stringify({ metadata: {}, ...body }));
  const nonZero = (message: unknown): Buffer =>
    status({
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message }] },
    });

  it('is 0 for Success', () => {
    assert.equal(exitCodeOf(status({ status: 'Success' })), 0);
  });

  it('reads the ExitCode cause of NonZeroExitCode failures', () => {
    assert.equal(exitCodeOf(nonZero('3')), 3);
    assert.equal(exitCodeOf(nonZero('255')), 255);
    assert.equal(exitCodeOf(nonZero('1')), 1);
  });

  it('takes the first ExitCode cause among others', () => {
    const body = status({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'Other', message: '9' }, { reason: 'ExitCode', message: '42' }, { reason: 'ExitCode', message: '7' }] },
    });
    assert.equal(exitCodeOf(body), 42);
  });

  it('reads keys the way Go does, ignoring case', () => {
    assert.equal(exitCodeOf(Buffer.from('{"Status":"Failure","Reason":"NonZeroExitCode","Details":{"Causes":[{"Reason":"ExitCode","Message":"5"}]}}')), 5);
  });

  it('has no exit code for other failures and malformed statuses', () => {
    assert.equal(exitCodeOf(status({ status: 'Failure', message: 'container not found ("app")', reason: 'InternalError' })), undefined);
    assert.equal(exitCodeOf(status({ status: 'Failure', reason: 'NonZeroExitCode' })), undefined);
    assert.equal(exitCodeOf(status({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [] } })), undefined);
    for (const message of ['256', '-1', '+3', '3.0', ' 3', 'three', '', 3]) assert.equal(exitCodeOf(nonZero(message)), undefined, String(message));
    assert.equal(exitCodeOf(status({ status: 'Unknown' })), undefined);
    assert.equal(exitCodeOf(Buffer.from('command terminated with non-zero exit code')), undefined);
    assert.equal(exitCodeOf(Buffer.alloc(0)), undefined);
    assert.equal(exitCodeOf(Buffer.from('null')), undefined);
    assert.equal(exitCodeOf(Buffer.from('[{"status":"Success"}]')), undefined);
  });

  it('reads the status out of a parsed error-channel frame', () => {
    const message = Buffer.concat([Buffer.from([Channel.error]), nonZero('3')]);
    const frame = roundTrip('v5.channel.k8s.io', message, true);
    assert.equal(frame.channel, Channel.error);
    assert.equal(exitCodeOf(frame.data), 3);
  });
});

describe('resize frames', () => {
  it('carry the terminal size as JSON on channel 4', () => {
    for (const protocol of [...BINARY, ...BASE64]) {
      const payload = Buffer.from('{"Width":120,"Height":40}');
      const frame: ChannelFrame = { channel: Channel.resize, data: payload };
      const encoded = encodeChannelFrame(protocol, frame);
      const parsed = parseChannelFrame(protocol, encoded.data, encoded.isBinary);
      assert.deepEqual(parsed, frame);
      assert.deepEqual(terminalSizeOf(parsed.data), { width: 120, height: 40 });
    }
  });

  it('refuses sizes that are not two uint16 values', () => {
    assert.deepEqual(terminalSizeOf(Buffer.from('{"width":80,"height":24}')), { width: 80, height: 24 });
    for (const body of ['{"Width":80}', '{"Width":-1,"Height":24}', '{"Width":65536,"Height":24}', '{"Width":"80","Height":24}', 'not json', '[]']) {
      assert.equal(terminalSizeOf(Buffer.from(body)), undefined, body);
    }
  });
});

describe('chooseProtocol', () => {
  it('prefers v5 whatever order the client offers', () => {
    assert.equal(chooseProtocol(['v4.channel.k8s.io', 'v5.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io']), 'v5.channel.k8s.io');
    assert.equal(chooseProtocol(['channel.k8s.io', 'v4.channel.k8s.io']), 'v4.channel.k8s.io');
    assert.equal(chooseProtocol(['base64.channel.k8s.io', 'v4.base64.channel.k8s.io']), 'v4.base64.channel.k8s.io');
    assert.equal(chooseProtocol(['base64.channel.k8s.io']), 'base64.channel.k8s.io');
  });

  it('reads raw header values', () => {
    assert.equal(chooseProtocol(['v4.channel.k8s.io, v5.channel.k8s.io']), 'v5.channel.k8s.io');
  });

  it('limits the answer to what the caller supports, in the caller’s order', () => {
    assert.equal(chooseProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], ['v4.channel.k8s.io']), 'v4.channel.k8s.io');
    assert.equal(chooseProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], ['v4.channel.k8s.io', 'v5.channel.k8s.io']), 'v4.channel.k8s.io');
    assert.equal(chooseProtocol(['v5.channel.k8s.io'], ['v4.channel.k8s.io']), undefined);
  });

  it('offers nothing for unknown or missing subprotocols', () => {
    assert.equal(chooseProtocol([]), undefined);
    assert.equal(chooseProtocol(['']), undefined);
    assert.equal(chooseProtocol(['V5.CHANNEL.K8S.IO', 'v6.channel.k8s.io', 'portforward.k8s.io']), undefined);
  });
});

describe('protocol traits', () => {
  it('name every protocol, most preferred first', () => {
    assert.equal(CHANNEL_PROTOCOLS[0], 'v5.channel.k8s.io');
    assert.deepEqual(new Set(CHANNEL_PROTOCOLS), new Set([...BINARY, ...BASE64]));
    assert.deepEqual(protocolTraits('v5.channel.k8s.io'), { base64: false, jsonStatus: true, streamClose: true });
    assert.deepEqual(protocolTraits('v4.base64.channel.k8s.io'), { base64: true, jsonStatus: true, streamClose: false });
    assert.deepEqual(protocolTraits('channel.k8s.io'), { base64: false, jsonStatus: false, streamClose: false });
  });

  it('refuse protocols they do not know', () => {
    const unknown = 'portforward.k8s.io' as ChannelProtocol;
    assertThrowsCode(() => parseChannelFrame(unknown, Buffer.from([1]), true), ChannelProtocolError, 'UNSUPPORTED_PROTOCOL');
    assertThrowsCode(() => encodeChannelFrame(unknown, { channel: 1, data: Buffer.alloc(0) }), ChannelProtocolError, 'UNSUPPORTED_PROTOCOL');
  });
});
