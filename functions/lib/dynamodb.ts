import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoEndpoint {
  readonly endpoint?: string;
  readonly region: string;
}

/**
 * A DynamoDB client. With an endpoint (dynalite, DynamoDB Local) the credentials are
 * placeholders: those servers accept any, and no real credential should ever reach them.
 */
export function createDynamoClient({ endpoint, region }: DynamoEndpoint): DynamoDBClient {
  return endpoint
    ? new DynamoDBClient({ endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 2 })
    : new DynamoDBClient({ region });
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
