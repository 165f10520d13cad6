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
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { WardenConfig } from '../core/config.js';
import { ConfigError, parseConfigText } from '../core/config.js';

export type FleetAuth = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'iam'; readonly region: string };

export interface FleetSettings {
  readonly config: WardenConfig;
  /** Relative file names in the config are resolved against it. */
  readonly configDir: string;
  readonly stateDir: string;
  readonly controlPlaneUrl: string;
  readonly auth: FleetAuth;
  readonly drainMs: number;
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
  };
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

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number, fallback: number): number {
  const value = env[name];
  if (!value) return fallback;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return number;
}
