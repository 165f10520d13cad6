/**
 * `warden up`: the control plane (the Lambda handlers behind the local HTTP adapter), the
 * store (embedded dynalite unless an endpoint is configured) and the PostgreSQL proxy, in
 * one process.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { WardenConfig } from '../core/config.js';
import { startDynalite } from '../functions/lib/dynamodb.js';
import { buildRuntime, configureRuntime, statePaths } from '../functions/lib/runtime.js';
import { startLocalApi } from '../functions/local/http-adapter.js';
import { ControlPlaneClient } from '../proxy-fleet/control-plane-client.js';
import { startPostgresProxy } from '../proxy-fleet/postgres/server.js';
import type { UpstreamTarget } from '../proxy-fleet/postgres/upstream.js';
import { connectionPassword, type LoadedConfig } from './config-file.js';
import { DEMO_CONNECTION, startDemoDatabase } from './demo-database.js';
import { clearRunningState, writeRunningState } from './running-state.js';

export interface UpOptions {
  readonly demo: boolean;
  readonly memory: boolean;
  readonly progress: (line: string) => void;
}

export interface RunningWarden {
  readonly controlPlaneUrl: string;
  readonly postgres: { readonly host: string; readonly port: number };
  readonly connections: readonly string[];
  readonly demo: boolean;
  stop(): Promise<void>;
}

export async function up(loaded: LoadedConfig, options: UpOptions): Promise<RunningWarden> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of stops.reverse()) await close().catch(() => undefined);
    await clearRunningState(loaded.stateDir);
  };
  try {
    let config: WardenConfig = loaded.config;
    const memory = options.memory || config.store.memory;
    await mkdir(loaded.stateDir, { recursive: true, mode: 0o700 });

    const targets = new Map<string, UpstreamTarget>();
    for (const [name, connection] of Object.entries(config.connections)) {
      const password = connectionPassword(name, connection);
      targets.set(name, { ...connection, ...(password === undefined ? {} : { password }) });
    }
    const demo = options.demo || config.demo === 'always' || (config.demo === 'auto' && targets.size === 0);
    if (demo) {
      options.progress('starting the embedded demo database (PGlite, about 3 s)…');
      const database = await startDemoDatabase();
      stops.push(() => database.close());
      config = { ...config, connections: { ...config.connections, [DEMO_CONNECTION]: database.connection } };
      targets.set(DEMO_CONNECTION, database.connection);
    }

    let storeEndpoint = config.store.endpoint;
    if (!storeEndpoint) {
      const store = await startDynalite(memory ? {} : { path: statePaths(loaded.stateDir).storeData });
      stops.push(() => store.close());
      storeEndpoint = store.endpoint;
    }
    const proxyKey = randomBytes(32).toString('base64url');
    const runtime = await buildRuntime({ config, stateDir: loaded.stateDir, storeEndpoint, proxyKey });
    await runtime.store.ensureTables();
    configureRuntime(runtime);

    const api = await startLocalApi(config.controlPlane.listen);
    stops.push(() => api.close());
    const proxy = await startPostgresProxy({
      ...config.proxy.postgres,
      controlPlane: new ControlPlaneClient({ url: api.url, proxyKey }),
      targets,
    });
    stops.push(() => proxy.close());

    const postgres = { host: proxy.host, port: proxy.port };
    await writeRunningState(loaded.stateDir, {
      pid: process.pid,
      controlPlaneUrl: api.url,
      ...(config.store.endpoint ? {} : { storeEndpoint }),
      postgres,
    });
    return { controlPlaneUrl: api.url, postgres, connections: [...targets.keys()], demo, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
