/**
 * The WebSocket channel subprotocols kubectl and the kubelet speak for exec and attach. Every
 * message carries one channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize. Binary protocols
 * put the channel number in the first byte; the base64 ones send text frames starting with the
 * channel as an ASCII digit followed by standard base64. From v4 the error channel carries a JSON
 * metav1.Status; v5 adds a close signal (255 then the closed channel). Parsing accepts only the
 * canonical spelling of each frame, so encoding what was parsed gives back the same bytes and a
 * proxy can re-encode after masking stdout and stderr without changing anything else.
 */

export type ChannelProtocol =
  | 'v5.channel.k8s.io'
  | 'v4.channel.k8s.io'
  | 'v4.base64.channel.k8s.io'
  | 'v3.channel.k8s.io'
  | 'v2.channel.k8s.io'
  | 'channel.k8s.io'
  | 'base64.channel.k8s.io';

/** Every protocol, most preferred first. */
export const CHANNEL_PROTOCOLS: readonly ChannelProtocol[] = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];

export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  error: 3,
  resize: 4,
  /** v5 only: the frame closes the channel named by its second byte. */
  close: 255,
} as const;

export interface ChannelFrame {
  channel: number;
  /** The payload, decoded from base64 for the base64 protocols. Empty for close frames. */
  data: Buffer;
  /** For v5 close frames (channel 255): the channel being closed. */
  closes?: number;
}

export interface ProtocolTraits {
  /** Text frames with base64 payloads rather than binary frames. */
  readonly base64: boolean;
  /** The error channel carries a JSON metav1.Status (v4 and later) rather than plain text. */
  readonly jsonStatus: boolean;
  /** Close frames on channel 255 (v5). */
  readonly streamClose: boolean;
}

export type ChannelProtocolErrorCode =
  | 'UNSUPPORTED_PROTOCOL'
  | 'EMPTY_FRAME'
  | 'UNEXPECTED_FRAME_TYPE'
  | 'UNKNOWN_CHANNEL'
  | 'MALFORMED_CLOSE'
  | 'MALFORMED_BASE64'
  | 'INVALID_FRAME';

export class ChannelProtocolError extends Error {
  override readonly name = 'ChannelProtocolError';
  constructor(
    readonly code: ChannelProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const TRAITS: ReadonlyMap<string, ProtocolTraits> = new Map<ChannelProtocol, ProtocolTraits>([
  ['v5.channel.k8s.io', { base64: false, jsonStatus: true, streamClose: true }],
  ['v4.channel.k8s.io', { base64: false, jsonStatus: true, streamClose: false }],
  ['v4.base64.channel.k8s.io', { base64: true, jsonStatus: true, streamClose: false }],
  ['v3.channel.k8s.io', { base64: false, jsonStatus: false, streamClose: false }],
  ['v2.channel.k8s.io', { base64: false, jsonStatus: false, streamClose: false }],
  ['channel.k8s.io', { base64: false, jsonStatus: false, streamClose: false }],
  ['base64.channel.k8s.io', { base64: true, jsonStatus: false, streamClose: false }],
]);

/** Exec and attach open channels 0 to 4; the servers drop or fail on anything else. */
const LAST_CHANNEL = Channel.resize;
const ASCII_ZERO = 0x30;
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fail(code: ChannelProtocolErrorCode, message: string): never {
  throw new ChannelProtocolError(code, message);
}

export function protocolTraits(protocol: ChannelProtocol): ProtocolTraits {
  return TRAITS.get(protocol) ?? fail('UNSUPPORTED_PROTOCOL', `unsupported channel protocol ${JSON.stringify(protocol)}`);
}

function isDataChannel(channel: number): boolean {
  return Number.isInteger(channel) && channel >= 0 && channel <= LAST_CHANNEL;
}

/** One WebSocket message of an exec or attach stream. The returned data of a binary frame is a view into `message`. */
export function parseChannelFrame(protocol: ChannelProtocol, message: Buffer, isBinary: boolean): ChannelFrame {
  const traits = protocolTraits(protocol);
  if (message.length === 0) fail('EMPTY_FRAME', 'channel frame is empty');
  if (isBinary === traits.base64) fail('UNEXPECTED_FRAME_TYPE', `${protocol} expects ${traits.base64 ? 'text' : 'binary'} frames`);
  const lead = message[0]!;

  if (!traits.base64) {
    if (lead === Channel.close && traits.streamClose) {
      if (message.length !== 2) fail('MALFORMED_CLOSE', 'a close frame holds exactly one channel byte');
      const closes = message[1]!;
      if (!isDataChannel(closes)) fail('MALFORMED_CLOSE', `close frame names unknown channel ${closes}`);
      return { channel: Channel.close, data: Buffer.alloc(0), closes };
    }
    if (!isDataChannel(lead)) fail('UNKNOWN_CHANNEL', `unknown channel ${lead}`);
    return { channel: lead, data: message.subarray(1) };
  }

  const channel = lead - ASCII_ZERO;
  if (!isDataChannel(channel)) fail('UNKNOWN_CHANNEL', `unknown channel character 0x${lead.toString(16)}`);
  const text = message.toString('latin1', 1);
  if (!CANONICAL_BASE64.test(text)) fail('MALFORMED_BASE64', 'frame payload is not canonical base64');
  const data = Buffer.from(text, 'base64');
  // Unused low bits in the last group must be zero, or re-encoding would change them.
  if (data.toString('base64') !== text) fail('MALFORMED_BASE64', 'frame payload is not canonical base64');
  return { channel, data };
}

export function encodeChannelFrame(protocol: ChannelProtocol, frame: ChannelFrame): { data: Buffer; isBinary: boolean } {
  const traits = protocolTraits(protocol);
  if (frame.channel === Channel.close) {
    if (!traits.streamClose) fail('UNKNOWN_CHANNEL', `${protocol} has no close frames`);
    if (frame.closes === undefined || !isDataChannel(frame.closes)) fail('MALFORMED_CLOSE', 'close frame needs the channel it closes');
    if (frame.data.length !== 0) fail('INVALID_FRAME', 'close frame carries no data');
    return { data: Buffer.from([Channel.close, frame.closes]), isBinary: true };
  }
  if (!isDataChannel(frame.channel)) fail('UNKNOWN_CHANNEL', `unknown channel ${frame.channel}`);
  if (frame.closes !== undefined) fail('INVALID_FRAME', 'only channel 255 frames close a channel');
  if (traits.base64) {
    return { data: Buffer.from(String.fromCharCode(ASCII_ZERO + frame.channel) + frame.data.toString('base64'), 'latin1'), isBinary: false };
  }
  const data = Buffer.allocUnsafe(frame.data.length + 1);
  data[0] = frame.channel;
  frame.data.copy(data, 1);
  return { data, isBinary: true };
}

/**
 * Value of a JSON object's field as Go's encoding/json reads it into a struct: an exact key
 * first, otherwise a key equal to it ignoring ASCII case.
 */
function field(object: unknown, key: string): unknown {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const record = object as Record<string, unknown>;
  if (Object.hasOwn(record, key)) return record[key];
  const lower = key.toLowerCase();
  const match = Object.keys(record).find((k) => k.toLowerCase() === lower);
  return match === undefined ? undefined : record[match];
}

/**
 * The exit code in an error-channel metav1.Status (v4 and later), read as kubectl reads it: 0 for
 * Success; for Failure with reason NonZeroExitCode, the ExitCode cause's message as 0–255.
 * Undefined for anything else, such as a failure to start the command or a pre-v4 text error.
 */
export function exitCodeOf(statusJson: Buffer): number | undefined {
  let status: unknown;
  try {
    status = JSON.parse(statusJson.toString('utf8'));
  } catch {
    return undefined;
  }
  const outcome = field(status, 'status');
  if (outcome === 'Success') return 0;
  if (outcome !== 'Failure' || field(status, 'reason') !== 'NonZeroExitCode') return undefined;
  const causes = field(field(status, 'details'), 'causes');
  if (!Array.isArray(causes)) return undefined;
  // The first ExitCode cause decides, valid or not.
  const cause: unknown = causes.find((c) => field(c, 'reason') === 'ExitCode');
  const message = field(cause, 'message');
  if (typeof message !== 'string' || !/^[0-9]+$/.test(message)) return undefined;
  const code = Number(message);
  return code <= 255 ? code : undefined;
}

export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/** A resize frame's terminal size ({"Width":…,"Height":…}), or undefined when it is not one. */
export function terminalSizeOf(data: Buffer): TerminalSize | undefined {
  let size: unknown;
  try {
    size = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  const width = field(size, 'Width');
  const height = field(size, 'Height');
  const isUint16 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
  return isUint16(width) && isUint16(height) ? { width, height } : undefined;
}

/**
 * The subprotocol to answer a client's offer with: the first of `supported` (most preferred first,
 * every protocol by default) that the client offered. Offers may be given as raw
 * Sec-WebSocket-Protocol header values; subprotocol names compare exactly.
 */
export function chooseProtocol(offered: readonly string[], supported: readonly ChannelProtocol[] = CHANNEL_PROTOCOLS): ChannelProtocol | undefined {
  const offers = new Set(offered.flatMap((value) => value.split(',')).map((value) => value.trim()));
  return supported.find((protocol) => TRAITS.has(protocol) && offers.has(protocol));
}
