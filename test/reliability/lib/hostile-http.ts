/**
 * HTTP requests for hostile-input tests, over node:http so that nothing is normalised on the
 * way (the path is sent as written, `..` and malformed escapes included) and an answer that
 * arrives while a large body is still being sent is still read.
 */
import { request, type Agent } from 'node:http';

const TIMEOUT_MS = 15_000;

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

export interface RawRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Default: a connection of its own. */
  readonly agent?: Agent;
}

export function send(baseUrl: string, path: string, options: RawRequest = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: hostname, port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
      response.on('error', reject);
    });
    // The server may answer and stop reading before the whole body is written (413): EPIPE on
    // the write side is expected then, and the answer is still read.
    outgoing.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' ? undefined : reject(error)));
    outgoing.setTimeout(TIMEOUT_MS, () => outgoing.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${path} within ${TIMEOUT_MS} ms`)));
    outgoing.end(options.body);
  });
}
