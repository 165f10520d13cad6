/**
 * The settings of the proxy fleet's own process (main.ts), from its environment (the ECS task
 * definition sets it) and an optional warden.yaml for the connections and listeners:
 *
 *   WARDEN_CONFIG             path of a warden.yaml, read as `warden up` reads it
 *   WARDEN_CONFIG_YAML        or its text, for a task that has no file to mount (JSON is YAML too)
 *   WARDEN_CONTROL_PLANE_URL  the control plane's HTTP API (required)
 *   WARDEN_PROXY_AUTH         `iam`: SigV4 with the task role's credentials, in AWS_REGION;
 *                             `key` (the default): the shared key in WARDEN_PROXY_KEY
 *   WARDEN_LISTEN_HOST        every listener's host, over the config's
 *   WARDEN_POSTGRES_PORT, WARDEN_SSH_PORT, WARDEN_KUBERNETES_PORT   their ports, over the config's
 *   WARDEN_STATE_DIR          where the self-signed certificate, SSH host key and recordings are
 *                             kept; default the config's stateDir
 *   WARDEN_DRAIN_SECONDS      after SIGTERM, how long open connections may finish (default 20,
 *                             inside ECS's default 30 s stop timeout)
 *   WARDEN_SSH_HOST_KEY       the SSH gateway's host key (OpenSSH private key text), instead of
 *                             one made on first start: every task of a fleet serves the same one
 *   WARDEN_TLS_CERT, WARDEN_TLS_KEY   the listeners' certificate and its key (PEM), instead of
 *                             a self-signed one made on first start; both or neither
 *   WARDEN_RECORDINGS         `upload`: move each finished shell recording to the evidence
 *                             bucket through the control plane (a task's disk does not outlive
 *                             it); `keep` (the default): keep them under the state directory
 *
 * A host key that does not parse, or a certificate and key that do not match, stop the start
 * with the variable named; their values are never logged or quoted.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { WardenConfig } from '../core/config.js';
import { ConfigError, parseConfigText } from '../core/config.js';
import { hostKeyFromPrivateKey, type GatewayHostKey } from './ssh/host-key.js';
import { certificatePairProblem } from './tls-certificate.js';

export type FleetAuth = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'iam'; readonly region: string };

/** The identity every task of a fleet shares, when the environment gives it; else each makes its own. */
export interface FleetIdentity {
  readonly sshHostKey?: GatewayHostKey;
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface FleetSettings {
  readonly config: WardenConfig;
  /** Relative file names in the config are resolved against it. */
  readonly configDir: string;
  readonly stateDir: string;
  readonly controlPlaneUrl: string;
  readonly auth: FleetAuth;
  readonly drainMs: number;
  readonly identity: FleetIdentity;
  readonly uploadRecordings: boolean;
}

const DEFAULT_DRAIN_SECONDS = 20;

export async function readFleetSettings(env: NodeJS.ProcessEnv = process.env): Promise<FleetSettings> {
  const { config, configDir } = await readConfig(env);
  return {
    config: withListenOverrides(config, env),
    configDir,
    stateDir: env.WARDEN_STATE_DIR ? resolve(env.WARDEN_STATE_DIR) : resolve(configDir, config.stateDir),
    controlPlaneUrl: controlPlaneUrl(env),
    auth: auth(env),
    drainMs: integer(env, 'WARDEN_DRAIN_SECONDS', 0, 3600, DEFAULT_DRAIN_SECONDS) * 1000,
    identity: readFleetIdentity(env),
    uploadRecordings: recordingsMode(env) === 'upload',
  };
}

/** WARDEN_SSH_HOST_KEY, WARDEN_TLS_CERT and WARDEN_TLS_KEY, checked; a ConfigError names the variable and the fix. */
export function readFleetIdentity(env: NodeJS.ProcessEnv = process.env): FleetIdentity {
  return { ...sshHostKey(env), ...tlsIdentity(env) };
}

function sshHostKey(env: NodeJS.ProcessEnv): Pick<FleetIdentity, 'sshHostKey'> {
  const text = env.WARDEN_SSH_HOST_KEY;
  if (!text) return {};
  try {
    return { sshHostKey: hostKeyFromPrivateKey(text) };
  } catch (error) {
    throw new ConfigError(
      `WARDEN_SSH_HOST_KEY ${(error as Error).message}: it must hold an unencrypted OpenSSH private key (ssh-keygen -t ed25519 -N '' -f host-key, then the text of host-key); put it in the variable's secret and start the task again, or unset it to make one per task`,
    );
  }
}

function tlsIdentity(env: NodeJS.ProcessEnv): Pick<FleetIdentity, 'tls'> {
  const cert = env.WARDEN_TLS_CERT || undefined;
  const key = env.WARDEN_TLS_KEY || undefined;
  if (!cert && !key) return {};
  if (!cert || !key) {
    const [set, missing] = cert ? ['WARDEN_TLS_CERT', 'WARDEN_TLS_KEY'] : ['WARDEN_TLS_KEY', 'WARDEN_TLS_CERT'];
    throw new ConfigError(`${set} is set but ${missing} is not: set both (the certificate and its private key, PEM) or neither`);
  }
  const pair = { cert, key };
  const problem = certificatePairProblem(pair.cert, pair.key);
  if (problem) {
    const variable = problem.part === 'cert' ? 'WARDEN_TLS_CERT' : 'WARDEN_TLS_KEY';
    throw new ConfigError(`${variable} ${problem.reason}: put the listeners' PEM certificate in WARDEN_TLS_CERT and its key in WARDEN_TLS_KEY (their secret), then start the task again`);
  }
  return { tls: pair };
}

async function readConfig(env: NodeJS.ProcessEnv): Promise<{ config: WardenConfig; configDir: string }> {
  const file = env.WARDEN_CONFIG || undefined;
  const text = env.WARDEN_CONFIG_YAML || undefined;
  if (file && text) throw new ConfigError('set WARDEN_CONFIG (a file) or WARDEN_CONFIG_YAML (its text), not both');
  if (text) return { config: parseConfigText(text, 'WARDEN_CONFIG_YAML'), configDir: process.cwd() };
  if (!file) return { config: parseConfigText(undefined, ''), configDir: process.cwd() };
  const path = resolve(file);
  let contents: string;
  try {
    contents = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`WARDEN_CONFIG: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); fix the path`);
  }
  return { config: parseConfigText(contents, path), configDir: dirname(path) };
}

function withListenOverrides(config: WardenConfig, env: NodeJS.ProcessEnv): WardenConfig {
  const host = env.WARDEN_LISTEN_HOST || undefined;
  const listen = <L extends { host: string; port: number }>(listener: L, portVariable: string): L => ({
    ...listener,
    host: host ?? listener.host,
    port: integer(env, portVariable, 0, 65_535, listener.port),
  });
  const { postgres, ssh, kubernetes } = config.proxy;
  return { ...config, proxy: { postgres: listen(postgres, 'WARDEN_POSTGRES_PORT'), ssh: listen(ssh, 'WARDEN_SSH_PORT'), kubernetes: listen(kubernetes, 'WARDEN_KUBERNETES_PORT') } };
}

function controlPlaneUrl(env: NodeJS.ProcessEnv): string {
  const value = env.WARDEN_CONTROL_PLANE_URL;
  if (!value) throw new ConfigError("WARDEN_CONTROL_PLANE_URL is not set; set it to the control plane's HTTP API URL");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`WARDEN_CONTROL_PLANE_URL is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`WARDEN_CONTROL_PLANE_URL must be an http(s) URL, not ${url.protocol}`);
  return value.replace(/\/+$/, '');
}

function auth(env: NodeJS.ProcessEnv): FleetAuth {
  const mode = env.WARDEN_PROXY_AUTH || 'key';
  if (mode === 'iam') {
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
    if (!region) throw new ConfigError('WARDEN_PROXY_AUTH=iam signs for the API Gateway region: set AWS_REGION');
    return { kind: 'iam', region };
  }
  if (mode !== 'key') throw new ConfigError(`WARDEN_PROXY_AUTH must be iam or key, not ${JSON.stringify(mode)}`);
  const key = env.WARDEN_PROXY_KEY;
  if (!key) throw new ConfigError('WARDEN_PROXY_KEY is not set: the key auth mode presents it to the control plane (or set WARDEN_PROXY_AUTH=iam)');
  return { kind: 'key', key };
}

function recordingsMode(env: NodeJS.ProcessEnv): 'upload' | 'keep' {
  const mode = env.WARDEN_RECORDINGS || 'keep';
  if (mode !== 'upload' && mode !== 'keep') throw new ConfigError(`WARDEN_RECORDINGS must be upload or keep, not ${JSON.stringify(mode)}`);
  return mode;
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number, fallback: number): number {
  const value = env[name];
  if (!value) return fallback;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return number;
}
