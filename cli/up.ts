/**
 * `warden up`: the control plane (the Lambda handlers behind the local HTTP adapter), the
 * store (embedded dynalite unless an endpoint is configured), the log's integrator and
 * checkpointer, and the PostgreSQL proxy, in one process.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { WardenConfig } from '../core/config.js';
import { SYSTEM_SESSION, sha256Hex } from '../core/ledger/entry.js';
import { canonicalJson } from '../core/canonical-json.js';
import { Checkpointer } from '../functions/lib/checkpointer.js';
import { startDynalite } from '../functions/lib/dynamodb.js';
import { scheduledExportDeps, startScheduledExports, type ExportEvent, type ScheduledExports } from '../functions/lib/evidence/scheduled-export.js';
import { Integrator } from '../functions/lib/integrator.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { PolicyError, type PolicyEngine } from '../functions/lib/policy-engine.js';
import { loadPolicyFile } from '../functions/lib/policy-files.js';
import { endOrphanedSessions } from '../functions/lib/orphaned-sessions.js';
import { LedgerReader } from '../functions/lib/ledger-reader.js';
import { LedgerService } from '../functions/lib/ledger-service.js';
import { buildRuntime, configureRuntime, keyedDigest, statePaths, type Runtime } from '../functions/lib/runtime.js';
import { ensureTables } from '../functions/lib/table-setup.js';
import { invokeLocal, startLocalApi } from '../functions/local/http-adapter.js';
import { sharedKey } from '../proxy-fleet/control-plane-auth.js';
import { ControlPlaneClient, type ControlPlaneTransport } from '../proxy-fleet/control-plane-client.js';
import { startProxyFleet } from '../proxy-fleet/fleet.js';
import { resolveTargets } from '../proxy-fleet/targets.js';
import { ConfigError, slackSettings, type LoadedConfig } from './config-file.js';
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
  /** The SSH gateway, when SSH connections are configured; `hostKey` is for clients' known_hosts. */
  readonly ssh?: { readonly host: string; readonly port: number; readonly hostKey: string };
  /** The Kubernetes API gateway, when Kubernetes connections are configured; certFile is its TLS certificate. */
  readonly kubernetes?: { readonly host: string; readonly port: number; readonly certFile: string };
  readonly connections: readonly string[];
  /** The PostgreSQL ones among them. */
  readonly postgresConnections: readonly string[];
  readonly logPublicKey: string;
  readonly evidenceDir: string;
  /** The proxy's TLS certificate, for clients that verify (sslrootcert); absent when TLS is off. */
  readonly certificateFile?: string;
  stop(): Promise<void>;
}

type Closer = () => Promise<void>;

export async function up(loaded: LoadedConfig, options: UpOptions): Promise<RunningWarden> {
  // Closed in this order: stop taking connections, record what is in flight, then the services under it.
  const closers: Record<'proxy' | 'export' | 'ledger' | 'api' | 'store' | 'demo', Closer[]> = { proxy: [], export: [], ledger: [], api: [], store: [], demo: [] };
  const stop = async () => {
    for (const group of Object.values(closers)) for (const close of group) await close().catch(() => undefined);
    await clearRunningState(loaded.stateDir);
  };
  try {
    let config: WardenConfig = loaded.config;
    const paths = statePaths(loaded.stateDir);
    await mkdir(loaded.stateDir, { recursive: true, mode: 0o700 });

    const configDir = loaded.path ? dirname(loaded.path) : process.cwd();
    let targets = await resolveTargets(config.connections, configDir);
    if (options.demo || config.demo === 'always' || (config.demo === 'auto' && Object.keys(config.connections).length === 0)) {
      options.progress('starting the embedded demo database (PGlite, about 3 s)…');
      const database = await startDemoDatabase();
      closers.demo.push(() => database.close());
      config = { ...config, connections: { ...config.connections, [DEMO_CONNECTION]: database.connection } };
      targets = { ...targets, postgres: new Map([...targets.postgres, [DEMO_CONNECTION, database.connection]]) };
    }

    let storeEndpoint = config.store.endpoint;
    if (!storeEndpoint) {
      const store = await startDynalite(options.memory || config.store.memory ? {} : { path: paths.storeData });
      closers.store.push(() => store.close());
      storeEndpoint = store.endpoint;
    }
    const signer = await loadOrCreateNoteKey(paths.logKey, config.ledger.origin);
    let service: LedgerService | undefined;
    const proxyKey = randomBytes(32).toString('base64url');
    const policy = await loadPolicy(config, configDir);
    const slack = slackSettings(config);
    // The API's address is known once it listens (port 0 picks one); links use it unless publicUrl is set.
    let apiUrl = '';
    const runtime = await buildRuntime({
      config,
      stateDir: loaded.stateDir,
      storeEndpoint,
      proxyKey,
      policy,
      onBatch: () => service?.batchWritten(),
      publicUrl: () => config.approvals.publicUrl ?? apiUrl,
      ...(slack ? { slack } : {}),
      logSigner: signer,
    });
    await ensureTables(runtime.client, config.store.tablePrefix);
    const reader = new LedgerReader(runtime.client, config.store.tablePrefix);
    service = new LedgerService({
      integrator: new Integrator(runtime.client, reader),
      checkpointer: new Checkpointer(runtime.client, reader, signer, config.ledger.origin, runtime.evidence.checkpoints),
      integrationDelayMs: config.ledger.integrationDelayMs,
      checkpointIntervalMs: config.ledger.checkpointIntervalSeconds * 1000,
      log: (event) => console.error(JSON.stringify({ component: 'ledger', ...event })),
    });
    service.start();
    const ledger = service;
    closers.ledger.push(() => ledger.stop());
    configureRuntime(runtime);
    await recordConfigSnapshot(runtime);
    const sweeper = startOrphanedSessionSweeper(runtime);
    closers.ledger.push(async () => clearInterval(sweeper));
    if (config.evidence.export.intervalMinutes > 0) {
      const exports = startEvidenceExports(runtime, options.progress);
      closers.export.push(() => exports.stop());
    }

    const api = await startLocalApi(config.controlPlane.listen);
    apiUrl = api.url;
    closers.api.push(() => api.close());
    const fleet = await startProxyFleet({
      config,
      configDir,
      targets,
      // The proxies call the control plane's handlers in this process: the same handlers, authentication and validation as over HTTP, without the sockets.
      controlPlane: new ControlPlaneClient({ url: api.url, auth: sharedKey(proxyKey), transport: inProcess }),
      paths: { tls: paths.tls, sshHostKey: paths.sshHostKey, recordings: paths.recordings },
    });
    closers.proxy.push(() => fleet.close());
    const postgres = { host: fleet.postgres.host, port: fleet.postgres.port };
    const ssh = fleet.ssh && { host: fleet.ssh.host, port: fleet.ssh.port, hostKey: fleet.ssh.hostKey };
    const kubernetes = fleet.kubernetes && { host: fleet.kubernetes.host, port: fleet.kubernetes.port, certFile: fleet.kubernetes.certFile };
    await writeRunningState(loaded.stateDir, { pid: process.pid, controlPlaneUrl: api.url, ...(config.store.endpoint ? {} : { storeEndpoint }), postgres, ...(ssh ? { ssh } : {}), ...(kubernetes ? { kubernetes } : {}) });
    return {
      controlPlaneUrl: api.url,
      postgres,
      ...(ssh ? { ssh } : {}),
      ...(kubernetes ? { kubernetes } : {}),
      connections: [...targets.postgres.keys(), ...targets.ssh.keys(), ...targets.kubernetes.keys()],
      postgresConnections: [...targets.postgres.keys()],
      logPublicKey: paths.logVerifierKey,
      evidenceDir: paths.evidence,
      ...(fleet.certificateFile ? { certificateFile: fleet.certificateFile } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Every minute, and once now (a restart after a crash finds the sessions its proxy left open). */
function startOrphanedSessionSweeper(runtime: Runtime): NodeJS.Timeout {
  const log = (event: Record<string, unknown>) => console.error(JSON.stringify({ component: 'sessions', ...event }));
  const sweep = () =>
    void endOrphanedSessions(runtime)
      .then((ended) => ended.length > 0 && log({ event: 'orphaned-sessions-ended', sessions: ended }))
      .catch((error: unknown) => log({ event: 'orphaned-sessions-sweep-failed', error: String(error) }));
  sweep();
  const timer = setInterval(sweep, 60_000);
  timer.unref();
  return timer;
}

const inProcess: ControlPlaneTransport = async ({ path, headers, body }) => {
  const answer = await invokeLocal({ method: 'POST', url: path, headers, body, sourceIp: '127.0.0.1' });
  return { status: answer.status, text: answer.body };
};

/** Scheduled evidence export on a timer, as the EventBridge schedule runs it in AWS: one line per bundle. */
function startEvidenceExports(runtime: Runtime, progress: (line: string) => void): ScheduledExports {
  const { intervalMinutes } = runtime.config.evidence.export;
  const log = (event: ExportEvent) => {
    if (event.level === 'warn') console.error(JSON.stringify({ component: 'evidence-export', ...event }));
  };
  progress(`evidence export every ${intervalMinutes} min to ${runtime.evidence.bundles.location}`);
  return startScheduledExports(scheduledExportDeps(runtime, log), intervalMinutes * 60_000, {
    onExport: (bundle) => progress(`evidence export: ${bundle.written ? 'wrote' : 'recorded'} ${bundle.location} (${bundle.entries} entries, ${bundle.from} → ${bundle.to}${bundle.verified ? '' : ', NOT verified'})`),
    onError: (error) => progress(`evidence export failed, retried in ${intervalMinutes} min: ${error instanceof Error ? error.message : String(error)}`),
  });
}

async function loadPolicy(config: WardenConfig, configDir: string): Promise<PolicyEngine> {
  const file = config.policy.file === undefined ? undefined : resolve(configDir, config.policy.file);
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyError) throw new ConfigError(`policy.file ${file ?? '(default set)'}: ${error.message}`);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`policy.file: cannot read ${file}; fix the path`);
    throw error;
  }
}

/** The configuration in force, with passwords removed, opens the log of every start. */
async function recordConfigSnapshot(runtime: Runtime): Promise<void> {
  const { config } = runtime;
  const connections = Object.fromEntries(
    Object.entries(config.connections).map(([name, connection]) => [name, 'password' in connection && connection.password !== undefined ? { ...connection, password: '[redacted]' } : connection]),
  );
  const snapshot = { ...config, connections };
  await runtime.ledger.append([
    {
      session: SYSTEM_SESSION,
      type: 'config.snapshot',
      time: new Date(runtime.now()).toISOString(),
      identity: { sub: 'warden', groups: [], chain: SYSTEM_SESSION, act: [] },
      connection: '',
      digest: keyedDigest(runtime, canonicalJson(config)),
      // The policy text is not secret, and an auditor needs exactly what was in force.
      data: { config: snapshot, policy: { version: runtime.policy.version, sha256: sha256Hex(runtime.policy.text), ids: runtime.policy.policyIds, text: runtime.policy.text } },
    },
  ]);
}
