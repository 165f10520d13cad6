/**
 * Forwards one plain (not upgraded) API request to the cluster and passes the answer back,
 * masked on the way:
 * - Secret values in every JSON answer to a resource request (a whole body is buffered to be
 *   rewritten; a watch is masked event by event);
 * - PII in pod logs and proxied answers, as a stream (a followed log never ends).
 * Resource requests ask the API server for JSON only, since a protobuf or YAML body could carry
 * Secret values past the masker; an answer in anything else is refused.
 */
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Detector } from '../../core/masking/detectors.js';
import { MaskingStream } from '../masking-stream.js';
import type { KubernetesRequest } from './request-info.js';
import { maskSecretsInJson, SecretWatchMasker } from './secret-masking.js';
import { sendStatus } from './status.js';
import type { KubernetesUpstream } from './upstream.js';

/** The largest non-streamed JSON answer the gateway buffers to mask (a big list). */
export const MAX_BUFFERED_BODY_BYTES = 64 * 1024 * 1024;
const SECRET_RULE = 'kubernetes-secret';

export interface RelayOutcome {
  httpStatus: number;
  bytesOut: number;
  bytesIn: number;
  masked: Record<string, number>;
}

/** Headers that describe one hop, or that Warden sets itself. */
const NOT_FORWARDED: ReadonlySet<string> = new Set(['authorization', 'host', 'connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'accept-encoding']);
const NOT_RETURNED: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'trailer', 'upgrade']);

export function forwardedHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !NOT_FORWARDED.has(name) && !name.startsWith('x-forwarded-')));
}

/** The JSON media types among the client's Accept entries (Table and PartialObjectMetadata variants included). */
export function jsonOnlyAccept(accept: string | undefined): string {
  const json = (accept ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.split(';')[0]!.trim().toLowerCase() === 'application/json');
  return json.length > 0 ? json.join(', ') : 'application/json';
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
}

export async function relayHttp(
  client: IncomingMessage,
  response: ServerResponse,
  upstream: KubernetesUpstream,
  request: KubernetesRequest,
  requestTarget: string,
  detectors: readonly Detector[],
  signal: AbortSignal,
): Promise<RelayOutcome> {
  const outcome: RelayOutcome = { httpStatus: 502, bytesOut: 0, bytesIn: 0, masked: {} };
  const streamsText = request.subresource === 'log' || request.verb === 'proxy' || request.subresource === 'proxy';
  const headers: OutgoingHttpHeaders = { ...forwardedHeaders(client.headers), ...upstream.authorization() };
  if (request.resourceRequest && !streamsText) headers.accept = jsonOnlyAccept(client.headers.accept);

  const answer = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = httpsRequest(upstream.url(requestTarget), { method: client.method, headers, agent: upstream.agent, signal }, resolve);
    outgoing.on('error', reject);
    client.on('data', (chunk: Buffer) => (outcome.bytesIn += chunk.length));
    client.pipe(outgoing);
  });
  outcome.httpStatus = answer.statusCode ?? 502;
  const returned = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !NOT_RETURNED.has(name)));
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      outcome.bytesOut += chunk.length;
      done(null, chunk);
    },
  });

  if (!request.resourceRequest) {
    response.writeHead(outcome.httpStatus, returned);
    await untilEither(pipeline(answer, count, response, { signal }));
    return outcome;
  }
  if (streamsText) {
    const masker = new MaskingStream(detectors);
    response.writeHead(outcome.httpStatus, returned);
    await untilEither(pipeline(answer, masker, count, response, { signal }));
    outcome.masked = masker.takeCounts();
    return outcome;
  }
  if (!isJson(answer.headers['content-type'])) {
    answer.destroy();
    outcome.httpStatus = 502;
    sendStatus(response, 502, `the API server answered in ${answer.headers['content-type'] ?? 'an unnamed format'}, which Warden cannot inspect for Secret values; only JSON is passed on`);
    return outcome;
  }
  if (request.verb === 'watch') {
    const watch = new SecretWatchMasker();
    const masking = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        try {
          done(null, watch.push(chunk));
        } catch (error) {
          done(error as Error);
        }
      },
      flush(done: TransformCallback) {
        done(null, watch.end());
      },
    });
    response.writeHead(outcome.httpStatus, returned);
    await untilEither(pipeline(answer, masking, count, response, { signal }));
    if (watch.masked > 0) outcome.masked = { [SECRET_RULE]: watch.masked };
    return outcome;
  }
  const body = await readWhole(answer, signal);
  if (!body) {
    outcome.httpStatus = 502;
    sendStatus(response, 502, `the API server's answer is larger than ${MAX_BUFFERED_BODY_BYTES} bytes, more than Warden buffers to mask Secret values; narrow the request (--chunk-size, a label selector)`);
    return outcome;
  }
  const masked = maskSecretsInJson(body);
  if (masked.masked > 0) outcome.masked = { [SECRET_RULE]: masked.masked };
  response.writeHead(outcome.httpStatus, { ...returned, 'content-length': masked.body.length });
  response.end(masked.body);
  outcome.bytesOut = masked.body.length;
  return outcome;
}

/**
 * A stream ends when either side goes: the client stops a watch or a followed log (Ctrl-C), the
 * session ends, or the cluster closes it. Each is a normal end of the command, recorded with
 * what had passed; anything else is a failure.
 */
async function untilEither(streaming: Promise<void>): Promise<void> {
  try {
    await streaming;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_STREAM_PREMATURE_CLOSE' && code !== 'ABORT_ERR' && code !== 'ECONNRESET') throw error;
  }
}

/** The whole body, or undefined when it exceeds MAX_BUFFERED_BODY_BYTES. */
async function readWhole(stream: IncomingMessage, signal: AbortSignal): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: true })) {
    signal.throwIfAborted();
    size += (chunk as Buffer).length;
    if (size > MAX_BUFFERED_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
