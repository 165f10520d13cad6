/**
 * The proxy fleet's listeners, started from the configuration: PostgreSQL always, SSH and
 * Kubernetes when connections of their kind are configured, all on one control-plane client
 * (so commands from every protocol share its group commit). `warden up` and the fleet's own
 * process (main.ts) both start the fleet here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { WardenConfig } from '../core/config.js';
import { readConfigFile } from './config-source.js';
import type { ControlPlaneClient } from './control-plane-client.js';
import type { FleetIdentity } from './fleet-settings.js';
import { startKubernetesGateway } from './kubernetes/server.js';
import type { Listener } from './listener.js';
import { startPostgresProxy } from './postgres/server.js';
import { loadOrCreateHostKey } from './ssh/host-key.js';
import { startSshGateway } from './ssh/server.js';
import type { FleetTargets } from './targets.js';
import { loadOrCreateSelfSigned, type CertificatePair } from './tls-certificate.js';

/** Where the fleet keeps what it makes on first start, and its recordings. */
export interface FleetPaths {
  /** The self-signed TLS certificate and key (proxy.postgres.tls.mode self-signed, and the Kubernetes gateway). */
  readonly tls: string;
  /** The SSH gateway's host key. */
  readonly sshHostKey: string;
  /** Shell recordings (asciicast v2). */
  readonly recordings: string;
}

export interface ProxyFleetOptions {
  /** The `proxy` section says where each listener listens and how PostgreSQL clients get TLS. */
  readonly config: WardenConfig;
  /** Relative TLS file names are resolved against it: the config file's folder. */
  readonly configDir: string;
  readonly targets: FleetTargets;
  readonly controlPlane: ControlPlaneClient;
  readonly paths: FleetPaths;
  /**
   * The SSH host key and TLS certificate every task of a fleet shares (fleet-settings.ts reads
   * them from the environment), used instead of making them; a configured proxy.postgres.tls
   * certFile still wins for PostgreSQL. Unset: made on first start and kept in `paths`.
   */
  readonly identity?: FleetIdentity;
  /** Move shell recordings to the evidence bucket through the control plane instead of keeping them in paths.recordings. */
  readonly uploadRecordings?: boolean;
}

export interface ProxyFleet {
  readonly postgres: Listener;
  /** When SSH connections are configured; `hostKey` ("ssh-ed25519 AAAA…") is for clients' known_hosts. */
  readonly ssh?: Listener & { readonly hostKey: string };
  /** When Kubernetes connections are configured; `certFile` is the certificate kubeconfigs trust. */
  readonly kubernetes?: Listener & { readonly certFile: string };
  /** The PostgreSQL proxy's certificate, for clients that verify; absent when TLS is off. */
  readonly certificateFile?: string;
  /** Ends every session now (each client told why), then waits until every session end and command result is reported. */
  close(): Promise<void>;
  /**
   * How a stopping task (SIGTERM) ends: take no new connections, let the open ones finish for
   * up to `graceMs`, then close().
   */
  shutdown(graceMs: number): Promise<void>;
}

export async function startProxyFleet({ config, configDir, targets, controlPlane, paths, identity = {}, uploadRecordings = false }: ProxyFleetOptions): Promise<ProxyFleet> {
  const listeners: Listener[] = [];
  const close = async () => {
    await Promise.all(listeners.map((listener) => listener.close()));
    await controlPlane.settle();
  };
  try {
    let shared: Promise<CertificatePair> | undefined;
    const sharedCertificate = identity.tls && (() => (shared ??= writeSharedCertificate(identity.tls!, paths.tls)));
    const { host, port, tls: clientTls, loginTimeoutSeconds } = config.proxy.postgres;
    const certificate = await proxyCertificate(config, configDir, paths.tls, sharedCertificate);
    const postgres = await startPostgresProxy({
      host,
      port,
      loginTimeoutSeconds,
      controlPlane,
      targets: targets.postgres,
      ...(certificate ? { tls: { context: createSecureContext({ cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2' }), require: clientTls.require } } : {}),
    });
    listeners.push(postgres);

    let ssh: ProxyFleet['ssh'];
    if (targets.ssh.size > 0) {
      const hostKey = identity.sshHostKey ?? (await loadOrCreateHostKey(paths.sshHostKey));
      const gateway = await startSshGateway({ ...config.proxy.ssh, hostKey: hostKey.privateKey, controlPlane, targets: targets.ssh, recordingsDir: paths.recordings, uploadRecordings });
      listeners.push(gateway);
      ssh = { ...gateway, hostKey: hostKey.publicKey };
    }

    let kubernetes: ProxyFleet['kubernetes'];
    if (targets.kubernetes.size > 0) {
      // The API gateway always speaks TLS: kubectl sends its bearer token on every request.
      const tls = certificate ?? (await (sharedCertificate?.() ?? loadOrCreateSelfSigned(paths.tls, selfSignedNames(config.proxy.kubernetes.host))));
      const gateway = await startKubernetesGateway({ ...config.proxy.kubernetes, tls, controlPlane, targets: targets.kubernetes });
      listeners.push(gateway);
      kubernetes = { ...gateway, certFile: tls.certFile };
    }

    return {
      postgres,
      ...(ssh ? { ssh } : {}),
      ...(kubernetes ? { kubernetes } : {}),
      ...(certificate ? { certificateFile: certificate.certFile } : {}),
      close,
      shutdown: async (graceMs) => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
        await Promise.race([Promise.all(listeners.map((listener) => listener.drain())), deadline]);
        clearTimeout(timer);
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function proxyCertificate(config: WardenConfig, configDir: string, tlsDir: string, shared: (() => Promise<CertificatePair>) | undefined): Promise<CertificatePair | undefined> {
  const { tls, host } = config.proxy.postgres;
  if (tls.mode === 'off') return undefined;
  if (tls.mode === 'files') {
    const cert = await readConfigFile(resolve(configDir, tls.certFile!), 'proxy.postgres.tls.certFile');
    const key = await readConfigFile(resolve(configDir, tls.keyFile!), 'proxy.postgres.tls.keyFile');
    return { cert, key, certFile: resolve(configDir, tls.certFile!) };
  }
  return shared ? shared() : loadOrCreateSelfSigned(tlsDir, selfSignedNames(host));
}

/** The given certificate (not its key) is written to the state directory, so clients have a file to trust, as with the self-signed one. */
async function writeSharedCertificate(tls: { cert: string; key: string }, tlsDir: string): Promise<CertificatePair> {
  const certFile = join(tlsDir, 'shared.crt');
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  await writeFile(certFile, tls.cert, { mode: 0o644 });
  return { ...tls, certFile };
}

function selfSignedNames(host: string): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', host])];
}
