/**
 * `warden up`: the control plane (the Lambda handlers behind the local HTTP adapter), the
 * store (embedded dynalite unless an endpoint is configured), the log's integrator and
 * checkpointer, and the PostgreSQL proxy, in one process.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { KubernetesConnection, SshConnection, WardenConfig } from '../core/config.js';
import { SYSTEM_SESSION, sha256Hex } from '../core/ledger/entry.js';
import { canonicalJson } from '../core/canonical-json.js';
import { Checkpointer } from '../functions/lib/checkpointer.js';
import { startDynalite } from '../functions/lib/dynamodb.js';
import { scheduledExportDeps, startScheduledExports, type ExportEvent, type ScheduledExports } from '../functions/lib/evidence/scheduled-export.js';
import { Integrator } from '../functions/lib/integrator.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { PolicyError, type PolicyEngine } from '../functions/lib/policy-engine.js';
import { loadPolicyFile } from '../functions/lib/policy-files.js';
import { LedgerReader } from '../functions/lib/ledger-reader.js';
import { LedgerService } from '../functions/lib/ledger-service.js';
import { buildRuntime, configureRuntime, keyedDigest, statePaths, type Runtime } from '../functions/lib/runtime.js';
import { ensureTables } from '../functions/lib/table-setup.js';
import { startLocalApi } from '../functions/local/http-adapter.js';
import { ControlPlaneClient } from '../proxy-fleet/control-plane-client.js';
import { startPostgresProxy } from '../proxy-fleet/postgres/server.js';
import type { UpstreamTarget } from '../proxy-fleet/postgres/upstream.js';
import { startKubernetesGateway } from '../proxy-fleet/kubernetes/server.js';
import type { KubernetesTarget } from '../proxy-fleet/kubernetes/upstream.js';
import { loadOrCreateHostKey } from '../proxy-fleet/ssh/host-key.js';
import { startSshGateway } from '../proxy-fleet/ssh/server.js';
import type { SshTarget } from '../proxy-fleet/ssh/upstream.js';
import { ConfigError, connectionPassword, slackSettings, type LoadedConfig } from './config-file.js';
import { loadOrCreateSelfSigned, type CertificatePair } from '../proxy-fleet/tls-certificate.js';
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
    const targets = new Map<string, UpstreamTarget>();
    const sshTargets = new Map<string, SshTarget>();
    const kubernetesTargets = new Map<string, KubernetesTarget>();
    for (const [name, connection] of Object.entries(config.connections)) {
      if (connection.kind === 'ssh') {
        sshTargets.set(name, { ...connection, privateKey: await sshPrivateKey(name, connection, configDir) });
        continue;
      }
      if (connection.kind === 'kubernetes') {
        kubernetesTargets.set(name, await kubernetesTarget(name, connection, configDir));
        continue;
      }
      const password = connectionPassword(name, connection);
      const ca = connection.caFile ? await readConfigFile(resolve(configDir, connection.caFile), `connections.${name}.caFile`) : undefined;
      targets.set(name, { ...connection, ...(password === undefined ? {} : { password }), ...(ca === undefined ? {} : { ca }) });
    }
    const certificate = await proxyCertificate(config, configDir, paths.tls);
    if (options.demo || config.demo === 'always' || (config.demo === 'auto' && Object.keys(config.connections).length === 0)) {
      options.progress('starting the embedded demo database (PGlite, about 3 s)…');
      const database = await startDemoDatabase();
      closers.demo.push(() => database.close());
      config = { ...config, connections: { ...config.connections, [DEMO_CONNECTION]: database.connection } };
      targets.set(DEMO_CONNECTION, database.connection);
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
    if (config.evidence.export.intervalMinutes > 0) {
      const exports = startEvidenceExports(runtime, options.progress);
      closers.export.push(() => exports.stop());
    }

    const api = await startLocalApi(config.controlPlane.listen);
    apiUrl = api.url;
    closers.api.push(() => api.close());
    const { host, port, tls } = config.proxy.postgres;
    const proxy = await startPostgresProxy({
      host,
      port,
      controlPlane: new ControlPlaneClient({ url: api.url, proxyKey }),
      targets,
      ...(certificate ? { tls: { context: createSecureContext({ cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2' }), require: tls.require } } : {}),
    });
    closers.proxy.push(() => proxy.close());
    let ssh: RunningWarden['ssh'];
    if (sshTargets.size > 0) {
      const hostKey = await loadOrCreateHostKey(paths.sshHostKey);
      const gateway = await startSshGateway({
        ...config.proxy.ssh,
        hostKey: hostKey.privateKey,
        controlPlane: new ControlPlaneClient({ url: api.url, proxyKey }),
        targets: sshTargets,
        recordingsDir: paths.recordings,
      });
      closers.proxy.push(() => gateway.close());
      ssh = { host: gateway.host, port: gateway.port, hostKey: hostKey.publicKey };
    }

    let kubernetes: RunningWarden['kubernetes'];
    if (kubernetesTargets.size > 0) {
      // The API gateway always speaks TLS: kubectl sends its bearer token on every request.
      const tls = certificate ?? (await loadOrCreateSelfSigned(paths.tls, [...new Set(['localhost', '127.0.0.1', '::1', config.proxy.kubernetes.host])]));
      const gateway = await startKubernetesGateway({
        ...config.proxy.kubernetes,
        tls,
        controlPlane: new ControlPlaneClient({ url: api.url, proxyKey }),
        targets: kubernetesTargets,
      });
      closers.proxy.push(() => gateway.close());
      kubernetes = { host: gateway.host, port: gateway.port, certFile: tls.certFile };
    }

    const postgres = { host: proxy.host, port: proxy.port };
    await writeRunningState(loaded.stateDir, { pid: process.pid, controlPlaneUrl: api.url, ...(config.store.endpoint ? {} : { storeEndpoint }), postgres, ...(ssh ? { ssh } : {}), ...(kubernetes ? { kubernetes } : {}) });
    return {
      controlPlaneUrl: api.url,
      postgres,
      ...(ssh ? { ssh } : {}),
      ...(kubernetes ? { kubernetes } : {}),
      connections: [...targets.keys(), ...sshTargets.keys(), ...kubernetesTargets.keys()],
      postgresConnections: [...targets.keys()],
      logPublicKey: paths.logVerifierKey,
      evidenceDir: paths.evidence,
      ...(certificate ? { certificateFile: certificate.certFile } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

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

async function proxyCertificate(config: WardenConfig, configDir: string, tlsDir: string): Promise<CertificatePair | undefined> {
  const { tls, host } = config.proxy.postgres;
  if (tls.mode === 'off') return undefined;
  if (tls.mode === 'files') {
    const cert = await readConfigFile(resolve(configDir, tls.certFile!), 'proxy.postgres.tls.certFile');
    const key = await readConfigFile(resolve(configDir, tls.keyFile!), 'proxy.postgres.tls.keyFile');
    return { cert, key, certFile: resolve(configDir, tls.certFile!) };
  }
  return loadOrCreateSelfSigned(tlsDir, [...new Set(['localhost', '127.0.0.1', '::1', host])]);
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

async function readConfigFile(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); fix the path`);
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

/** The key the gateway logs in to an SSH host with: from a file, or from an environment variable. */
async function sshPrivateKey(name: string, connection: SshConnection, configDir: string): Promise<string> {
  if (connection.privateKeyFile) return readConfigFile(resolve(configDir, connection.privateKeyFile), `connections.${name}.privateKeyFile`);
  const value = process.env[connection.privateKeyEnv!];
  if (!value) throw new ConfigError(`connections.${name}.privateKeyEnv: the environment variable ${connection.privateKeyEnv} is not set; export the private key in it`);
  return value;
}

/** The API server and the credential the gateway calls it with, read once on start. */
async function kubernetesTarget(name: string, connection: KubernetesConnection, configDir: string): Promise<KubernetesTarget> {
  const file = (path: string, field: string) => readConfigFile(resolve(configDir, path), `connections.${name}.${field}`);
  let token: string | undefined;
  if (connection.tokenEnv) {
    token = process.env[connection.tokenEnv];
    if (!token) throw new ConfigError(`connections.${name}.tokenEnv: the environment variable ${connection.tokenEnv} is not set; export the service account's token in it`);
  } else if (connection.tokenFile) {
    token = (await file(connection.tokenFile, 'tokenFile')).trim();
  }
  return {
    server: connection.server,
    ...(connection.caFile ? { ca: await file(connection.caFile, 'caFile') } : {}),
    ...(token ? { token } : {}),
    ...(connection.clientCertFile ? { cert: await file(connection.clientCertFile, 'clientCertFile'), key: await file(connection.clientKeyFile!, 'clientKeyFile') } : {}),
  };
}
