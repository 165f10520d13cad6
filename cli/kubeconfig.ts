/**
 * `warden kubeconfig`: a kubeconfig for one Kubernetes connection behind Warden's gateway. It
 * holds no token: kubectl runs `warden kube-credential` (an exec credential plugin) for one.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document } from 'yaml';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { credentialArgs, credentialMethod, EXEC_CREDENTIAL_API, type CredentialSource } from './kube-credential.js';
import { readRunningState, type RunningState } from './running-state.js';

const CLI_ENTRY = fileURLToPath(new URL('./bin.js', import.meta.url));

export interface KubeconfigOptions {
  readonly connection: string;
  /** The gateway's URL for the connection; default: from the running `warden up`. */
  readonly server?: string;
  /** PEM file of the certificate kubectl trusts for the gateway; default: the running `warden up`'s. */
  readonly certificateAuthority?: string;
  /** The name of the context, the cluster and the user; default: the connection. */
  readonly context?: string;
  readonly source: CredentialSource;
}

export interface Kubeconfig {
  readonly text: string;
  readonly context: string;
  readonly server: string;
}

export async function kubeconfig(loaded: LoadedConfig, options: KubeconfigOptions): Promise<Kubeconfig> {
  const { connection } = options;
  checkConnection(loaded, connection);
  const args = credentialArgs(options.source);
  const running = await readRunningState(loaded.stateDir);
  const server = options.server !== undefined ? checkServer(options.server) : gatewayUrl(running, connection);
  const caFile = options.certificateAuthority ?? running?.kubernetes?.certFile;
  const name = options.context ?? connection;
  const exec = {
    apiVersion: EXEC_CREDENTIAL_API,
    // kubectl runs the plugin directly, without a shell, and the PATH it inherits may hold
    // neither npx nor tsx: this very node binary, running bin.js (which loads tsx itself), works.
    command: process.execPath,
    args: [CLI_ENTRY, ...(loaded.path ? ['--config', loaded.path] : []), 'kube-credential', '--connection', connection, ...args],
    installHint: `this kubeconfig runs the Warden CLI as ${process.execPath} ${CLI_ENTRY}; if either moved, write it again with warden kubeconfig`,
    interactiveMode: 'IfAvailable',
    provideClusterInfo: false,
  };
  const document = new Document({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, ...(caFile ? { 'certificate-authority-data': await certificateData(caFile) } : {}) } }],
    users: [{ name, user: { exec } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
  document.commentBefore = ' Written by warden kubeconfig. It holds no token: kubectl runs warden kube-credential for one.';
  return { text: document.toString({ lineWidth: 0 }), context: name, server };
}

/** Writes `text` to `file` with mode 0600, creating its directory; returns the absolute path. */
export async function writeKubeconfig(file: string, text: string): Promise<string> {
  const path = resolve(file);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600); // the mode above applies only to a new file
  return path;
}

/** What to run next, for stderr. */
export function usage(written: string | undefined, config: Kubeconfig, source: CredentialSource): string {
  const method = credentialMethod(source);
  const lines = written
    ? [`wrote ${written}: context ${config.context}, server ${config.server}`, 'use it with:', `  export KUBECONFIG=${written}`]
    : ['save this kubeconfig in a file (or pass --out FILE), then:', '  export KUBECONFIG=FILE'];
  if (method.kind === 'environment') lines.push(`  export ${method.tokenEnv}=$(warden login --device)`);
  lines.push('  kubectl get pods');
  return lines.join('\n');
}

function checkConnection(loaded: LoadedConfig, connection: string): void {
  // Without a config file there is nothing to check against: the gateway may be someone else's.
  if (loaded.path === undefined) return;
  const { connections } = loaded.config;
  const kubernetes = Object.keys(connections).filter((name) => connections[name]!.kind === 'kubernetes');
  if (kubernetes.includes(connection)) return;
  const existing = Object.hasOwn(connections, connection) ? connections[connection] : undefined;
  const known = `kubernetes connections in ${loaded.path}: ${kubernetes.join(', ') || '(none; add one with kind: kubernetes under connections)'}`;
  throw new CliError(existing ? `${connection} is a ${existing.kind} connection, not kubernetes; ${known}` : `no connection ${connection}; ${known}`, 2);
}

function checkServer(server: string): string {
  if (!URL.canParse(server) || new URL(server).protocol !== 'https:') {
    throw new CliError(`--server ${server} is not an https:// URL; the gateway serves each connection at https://HOST:PORT/clusters/CONNECTION`, 2);
  }
  return server;
}

function gatewayUrl(running: RunningState | undefined, connection: string): string {
  if (!running) throw new CliError('warden up is not running; start it (npx warden up) or pass --server https://HOST:PORT/clusters/CONNECTION', 3);
  if (!running.kubernetes) {
    throw new CliError('the running warden up serves no Kubernetes gateway; add a connection of kind kubernetes and restart it, or pass --server https://HOST:PORT/clusters/CONNECTION', 3);
  }
  const { host, port } = running.kubernetes;
  return `https://${isIPv6(host) ? `[${host}]` : host}:${port}/clusters/${connection}`;
}

async function certificateData(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read the gateway's certificate ${file}: ${(error as Error).message}; pass a PEM file with --certificate-authority`, 2);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----); pass one with --certificate-authority`, 2);
  return Buffer.from(pem).toString('base64');
}
