import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoEndpoint {
  readonly endpoint?: string;
  readonly region: string;
}

/**
 * How long a store connection may stay silent in the middle of a request before the request
 * fails. Without it the SDK waits 300 s: requests whose connections a network fault left dead
 * hold the client's sockets and the ledger's one-at-a-time batch write for minutes after the
 * store is back, and every command is refused meanwhile. Two attempts fit inside the proxy's
 * 10 s deadline, so it hears that the store is unreachable rather than nothing.
 */
export const STORE_SOCKET_TIMEOUT_MS = 4_000;

/**
 * A DynamoDB client. With an endpoint (dynalite, DynamoDB Local) the credentials are
 * placeholders: those servers accept any, and no real credential should ever reach them.
 */
export function createDynamoClient({ endpoint, region }: DynamoEndpoint): DynamoDBClient {
  const requestHandler = { socketTimeout: STORE_SOCKET_TIMEOUT_MS };
  return endpoint
    ? new DynamoDBClient({ endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 2, requestHandler })
    : new DynamoDBClient({ region, requestHandler });
}

export interface EmbeddedDynalite {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite on loopback, on a worker thread: in memory, or persisted in `path` (LevelDB). */
export async function startDynalite(options: { path?: string; port?: number }): Promise<EmbeddedDynalite> {
  const worker = new Worker(new URL('./dynalite-worker.mjs', import.meta.url), { workerData: { ...options, port: options.port ?? 0 } });
  const reply = (): Promise<{ port?: number; error?: string; closed?: boolean }> =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const started = await reply();
  if (started.port === undefined) {
    await worker.terminate();
    throw new Error(`the embedded store did not start: ${started.error ?? 'no port'}`);
  }
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${started.port}`,
    close: () => {
      closing ??= (async () => {
        const closed = reply();
        worker.postMessage('close');
        await closed;
        await worker.terminate();
      })();
      return closing;
    },
  };
}
