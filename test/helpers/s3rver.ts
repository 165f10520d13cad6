/**
 * s3rver, a fake S3 that speaks the real protocol (SigV4, REST, XML), on a loopback port over a
 * temp directory. Every request's headers are kept: s3rver stores no Object Lock settings, so
 * the request is where a test sees what was sent. `stop()` and `start()` take it off the network
 * and back on the same port, with the same objects.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/** The credentials s3rver accepts (it checks SigV4 signatures against its one account). */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } as const;

export interface ReceivedRequest {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface TestS3 {
  readonly endpoint: string;
  readonly client: S3Client;
  readonly requests: ReceivedRequest[];
  createBucket(name: string): Promise<void>;
  getObject(bucket: string, key: string): Promise<Buffer>;
  /** Stops listening: requests fail to connect, as when S3 is unreachable. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestS3(): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'warden-s3rver-'));
  const app = new S3rver({ silent: true, directory });
  const requests: ReceivedRequest[] = [];
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    const listening = createServer(app.callback());
    listening.on('request', (request) => requests.push({ method: request.method ?? '', path: decodeURIComponent((request.url ?? '').split('?')[0]!), headers: request.headers }));
    await new Promise<void>((resolve, reject) => listening.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    port = (listening.address() as AddressInfo).port;
    server = listening;
  };
  const stop = async () => {
    const listening = server;
    server = undefined;
    if (!listening) return;
    listening.closeAllConnections();
    await new Promise((resolve) => listening.close(resolve));
  };
  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    client,
    requests,
    createBucket: async (name) => void (await client.send(new CreateBucketCommand({ Bucket: name }))),
    getObject: async (bucket, key) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray()),
    stop,
    start,
    close: async () => {
      await stop();
      client.destroy();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
