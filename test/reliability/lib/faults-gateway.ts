/**
 * The gateway taken apart into the pieces a fault test breaks one at a time:
 *
 *   pg clients → proxy fleet (proxy-fleet/main.ts, own process) → PostgreSQL (real, log_statement=all)
 *                     ↓
 *               control plane (own process, faults-control-plane-main.ts)
 *                     ↓
 *               fault relay (faults-tcp-relay.ts) → store (dynalite, in this process)
 *
 * The proxy and the control plane can be killed with SIGKILL and started again on the same
 * ports, state directories and store; the relay makes the store unavailable or slow.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../../../cli/config-file.js';
import { wardenConfigSchema } from '../../../core/config.js';
import { DevIssuer } from '../../../functions/lib/dev-issuer.js';
import { startDynalite, type EmbeddedDynalite } from '../../../functions/lib/dynamodb.js';
import { loadOrCreateEcKey } from '../../../functions/lib/key-files.js';
import { statePaths } from '../../../functions/lib/runtime.js';
import { freePort, startTestPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { startChild, type RunningChild } from './faults-child-process.js';
import { LOG_LINE_PREFIX } from './faults-evidence.js';
import { startFaultRelay, type FaultRelay } from './faults-tcp-relay.js';

const proxyMain = new URL('../../../proxy-fleet/main.ts', import.meta.url).pathname;
const controlPlaneMain = new URL('./faults-control-plane-main.ts', import.meta.url).pathname;
const PROXY_KEY = 'faults-proxy-key-0123456789';
export const CONNECTION = 'app';

export interface FaultGateway {
  readonly db: TestPostgres;
  /** The store's own endpoint and state directory, as `warden checkpoint` and `warden verify` reach them. */
  readonly ledgerAccess: LoadedConfig;
  readonly proxyPort: number;
  readonly storeRelay: FaultRelay;
  proxy(): RunningChild;
  /** Every line every proxy process logged, the killed ones' too. */
  proxyLog(): string[];
  controlPlane(): RunningChild;
  startProxy(): Promise<void>;
  startControlPlane(): Promise<void>;
  /** A Warden token for `sub`, from the control plane's token exchange. */
  token(sub: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startFaultGateway(): Promise<FaultGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-faults-'));
  const stops: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const close of stops.reverse()) await close().catch(() => undefined);
  };
  try {
    const db = await startTestPostgres({ settings: { log_line_prefix: LOG_LINE_PREFIX } });
    stops.push(() => db.stop());
    const store: EmbeddedDynalite = await startDynalite({});
    stops.push(() => store.close());
    const storeRelay = await startFaultRelay({ host: '127.0.0.1', port: Number(new URL(store.endpoint).port) });
    stops.push(() => storeRelay.close());

    const connections = { [CONNECTION]: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'APP_PASSWORD', tls: 'disable' } };
    const controlPlaneDir = join(dir, 'control-plane');
    const controlPlanePort = await freePort();
    const controlPlaneUrl = `http://127.0.0.1:${controlPlanePort}`;
    const proxyPort = await freePort();
    let controlPlane: RunningChild | undefined;
    const proxies: RunningChild[] = [];
    stops.push(async () => {
      await proxies.at(-1)?.stop();
      await controlPlane?.stop();
    });

    const startControlPlane = async () => {
      controlPlane = await startChild(
        controlPlaneMain,
        {
          FAULTS_STATE_DIR: controlPlaneDir,
          FAULTS_STORE_ENDPOINT: storeRelay.url,
          FAULTS_PROXY_KEY: PROXY_KEY,
          FAULTS_PORT: String(controlPlanePort),
          FAULTS_CONFIG_JSON: JSON.stringify({ connections }),
        },
        'listening',
      );
    };
    const startProxy = async () => {
      const proxy = await startChild(
        proxyMain,
        {
          WARDEN_CONFIG_YAML: JSON.stringify({ connections, proxy: { postgres: { tls: { mode: 'off' } } } }),
          WARDEN_CONTROL_PLANE_URL: controlPlaneUrl,
          WARDEN_PROXY_KEY: PROXY_KEY,
          WARDEN_LISTEN_HOST: '127.0.0.1',
          WARDEN_POSTGRES_PORT: String(proxyPort),
          WARDEN_STATE_DIR: join(dir, 'proxy'),
          APP_PASSWORD: db.password,
        },
        'started',
      );
      proxies.push(proxy);
    };
    await startControlPlane();
    await startProxy();

    const issuer = new DevIssuer(await loadOrCreateEcKey(statePaths(controlPlaneDir).devIssuerKey));
    const token = async (sub: string) => {
      const response = await fetch(`${controlPlaneUrl}/v1/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: await issuer.mint({ sub, groups: [] }),
          subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        }),
      });
      if (!response.ok) throw new Error(`token exchange for ${sub}: HTTP ${response.status} ${await response.text()}`);
      return String(((await response.json()) as { access_token: string }).access_token);
    };

    return {
      db,
      ledgerAccess: { config: wardenConfigSchema.parse({ store: { endpoint: store.endpoint } }), path: undefined, stateDir: controlPlaneDir },
      proxyPort,
      storeRelay,
      proxy: () => proxies.at(-1)!,
      proxyLog: () => proxies.flatMap((proxy) => proxy.lines),
      controlPlane: () => controlPlane!,
      startProxy,
      startControlPlane,
      token,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
