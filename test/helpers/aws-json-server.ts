/**
 * A loopback HTTP server speaking the AWS JSON 1.1 protocol the SDK's KMS and Secrets Manager
 * clients use: POST /, `X-Amz-Target: Service.Operation`, a JSON body in and out, and errors as
 * status 400 with `__type`. Signatures are not checked; the clients sign with static test keys.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Thrown by an operation: answered as an AWS error of that type. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export type Operations = Readonly<Record<string, (input: Record<string, unknown>) => Record<string, unknown>>>;

export interface AwsJsonServer {
  readonly endpoint: string;
  /** Every call, as `Operation`, in order. */
  readonly calls: string[];
  close(): Promise<void>;
}

export async function startAwsJsonServer(service: string, operations: Operations): Promise<AwsJsonServer> {
  const calls: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const reply = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
      };
      const target = String(request.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(`${service}.`) ? operations[target.slice(service.length + 1)] : undefined;
      if (request.method !== 'POST' || request.headers['content-type'] !== 'application/x-amz-json-1.1' || !operation) {
        return reply(400, { __type: 'UnknownOperationException', message: `not a ${service} JSON 1.1 call: ${request.method} ${target}` });
      }
      calls.push(target.slice(service.length + 1));
      try {
        reply(200, operation(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        reply(400, { __type: error.type, message: error.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** What the SDK clients need to talk to a local server: no real credential ever reaches it. */
export const localClientConfig = (endpoint: string) => ({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
