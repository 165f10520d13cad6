/**
 * exec, attach and port-forward: the client's WebSocket is accepted only once the cluster has
 * accepted the gateway's, with the same subprotocol, so the client sees the cluster's answer.
 * exec and attach speak the channel protocol (channel-protocol.ts): stdout and stderr frames are
 * masked on the way to the client and re-encoded; the error channel gives the exit code. Port
 * forwarding is relayed as it is: its bytes belong to another protocol (README, "Kubernetes").
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import type { Detector } from '../../core/masking/detectors.js';
import { LiveMasker } from '../masking-stream.js';
import { Channel, CHANNEL_PROTOCOLS, encodeChannelFrame, exitCodeOf, parseChannelFrame, protocolTraits, type ChannelProtocol } from './channel-protocol.js';
import { forwardedHeaders, type RelayOutcome } from './http-relay.js';
import { sendStatusOnSocket } from './status.js';
import type { KubernetesUpstream } from './upstream.js';

export interface WebSocketOutcome extends RelayOutcome {
  exitStatus?: number;
}

const NOT_FORWARDED = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']);
/** Close codes a peer may not send itself (RFC 6455 §7.4.1). */
const RESERVED_CLOSE_CODES = new Set([1005, 1006, 1015]);
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The subprotocol the cluster chose, per client request: the client is answered with the same one. */
const chosenProtocols = new WeakMap<IncomingMessage, string>();
const acceptor = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
  handleProtocols: (_offered, request) => chosenProtocols.get(request) || false,
});

export function offeredProtocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

export async function relayWebSocket(
  client: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  upstream: KubernetesUpstream,
  requestTarget: string,
  channels: boolean,
  detectors: readonly Detector[],
  signal: AbortSignal,
): Promise<WebSocketOutcome> {
  const offered = offeredProtocols(client);
  const protocols = channels ? offered.filter((protocol) => (CHANNEL_PROTOCOLS as readonly string[]).includes(protocol)) : offered;
  if (channels && protocols.length === 0) {
    sendStatusOnSocket(socket, 400, `none of the offered WebSocket subprotocols (${offered.join(', ') || 'none'}) is a channel protocol Warden can inspect; use kubectl 1.30 or newer`);
    return { httpStatus: 400, bytesOut: 0, bytesIn: 0, masked: {} };
  }
  const headers = Object.fromEntries(Object.entries(forwardedHeaders(client.headers)).filter(([name]) => !NOT_FORWARDED.has(name))) as Record<string, string>;
  const cluster = new WebSocket(upstream.url(requestTarget, 'wss'), protocols, {
    headers: { ...headers, ...upstream.authorization() },
    ...upstream.tlsOptions(),
    perMessageDeflate: false,
  });
  const opened = await new Promise<IncomingMessage | undefined>((resolve, reject) => {
    cluster.once('open', () => resolve(undefined));
    cluster.once('unexpected-response', (_request, response) => resolve(response));
    cluster.once('error', reject);
    signal.addEventListener('abort', () => cluster.terminate(), { once: true });
  }).catch((error: unknown) => error as Error);
  if (opened instanceof Error) {
    sendStatusOnSocket(socket, 502, `the cluster did not accept the stream (${opened.message})`);
    return { httpStatus: 502, bytesOut: 0, bytesIn: 0, masked: {} };
  }
  if (opened) return passOnRefusal(opened, socket);

  chosenProtocols.set(client, cluster.protocol);
  const accepted = await new Promise<WebSocket>((resolve) => acceptor.handleUpgrade(client, socket, head, resolve));
  return relayFrames(accepted, cluster, channels ? (cluster.protocol as ChannelProtocol) : undefined, detectors, signal);
}

/** The cluster refused the upgrade: its status and body go to the client as they are. */
async function passOnRefusal(response: IncomingMessage, socket: Duplex): Promise<WebSocketOutcome> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size > MAX_ERROR_BODY_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const status = response.statusCode ?? 502;
  socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status} ${response.statusMessage ?? ''}\r\ncontent-type: ${response.headers['content-type'] ?? 'application/json'}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]));
  return { httpStatus: status, bytesOut: body.length, bytesIn: 0, masked: {} };
}

function relayFrames(client: WebSocket, cluster: WebSocket, protocol: ChannelProtocol | undefined, detectors: readonly Detector[], signal: AbortSignal): Promise<WebSocketOutcome> {
  const outcome: WebSocketOutcome = { httpStatus: 101, bytesOut: 0, bytesIn: 0, masked: {} };
  const send = (data: Buffer, isBinary: boolean) => {
    outcome.bytesOut += data.length;
    client.send(data, { binary: isBinary });
  };
  const maskers = new Map<number, LiveMasker>();
  if (protocol) {
    for (const channel of [Channel.stdout, Channel.stderr]) {
      maskers.set(channel, new LiveMasker(detectors, (bytes) => {
        const frame = encodeChannelFrame(protocol, { channel, data: bytes });
        send(frame.data, frame.isBinary);
      }));
    }
  }
  const fromCluster = (message: Buffer, isBinary: boolean) => {
    if (!protocol) return send(message, isBinary);
    const frame = parseChannelFrame(protocol, message, isBinary);
    const masker = maskers.get(frame.channel);
    if (masker) return masker.push(frame.data);
    // Output held by a masker goes before the exit status and before its channel's close.
    for (const held of maskers.values()) held.flush();
    if (frame.channel === Channel.error && protocolTraits(protocol).jsonStatus) {
      const code = exitCodeOf(frame.data);
      if (code !== undefined) outcome.exitStatus = code;
    }
    send(message, isBinary);
  };

  return new Promise((resolve) => {
    let finished = false;
    const finish = (code: number, reason: string) => {
      if (finished) return;
      finished = true;
      for (const masker of maskers.values()) {
        masker.end();
        for (const [rule, count] of Object.entries(masker.takeCounts())) outcome.masked[rule] = (outcome.masked[rule] ?? 0) + count;
      }
      const closeCode = RESERVED_CLOSE_CODES.has(code) ? 1000 : code;
      if (client.readyState === WebSocket.OPEN) client.close(closeCode, reason.slice(0, 120));
      if (cluster.readyState === WebSocket.OPEN) cluster.close(closeCode, reason.slice(0, 120));
      resolve(outcome);
    };
    cluster.on('message', (data: RawData, isBinary: boolean) => {
      try {
        fromCluster(data as Buffer, isBinary);
      } catch (error) {
        // Nothing the gateway cannot parse reaches the client unmasked.
        finish(1011, `Warden: unreadable frame from the cluster (${error instanceof Error ? error.message : String(error)})`);
      }
    });
    client.on('message', (data: RawData, isBinary: boolean) => {
      outcome.bytesIn += (data as Buffer).length;
      if (cluster.readyState === WebSocket.OPEN) cluster.send(data as Buffer, { binary: isBinary });
    });
    cluster.on('close', (code, reason) => finish(code, reason.toString()));
    client.on('close', (code, reason) => finish(code, reason.toString()));
    cluster.on('error', () => finish(1011, 'Warden: the connection to the cluster failed'));
    client.on('error', () => finish(1011, 'Warden: the client connection failed'));
    signal.addEventListener('abort', () => finish(1008, `Warden: the session ended (${String(signal.reason)})`), { once: true });
  });
}
