import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

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

/** Starts dynalite on loopback: in memory, or persisted in `path` (LevelDB). */
export async function startDynalite(options: { path?: string; port?: number }): Promise<EmbeddedDynalite> {
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
