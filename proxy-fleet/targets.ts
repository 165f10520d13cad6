/**
 * The configured connections as the listeners need them: with the credential the gateway logs
 * in with, read once on start from the environment variable the config names (ECS injects
 * Secrets Manager values as such variables) or from a file.
 */
import { resolve } from 'node:path';
import type { KubernetesConnection, PostgresConnection, SshConnection, WardenConfig } from '../core/config.js';
import { ConfigError } from '../core/config.js';
import { readConfigFile } from './config-source.js';
import type { KubernetesTarget } from './kubernetes/upstream.js';
import type { UpstreamTarget } from './postgres/upstream.js';
import type { SshTarget } from './ssh/upstream.js';

export interface FleetTargets {
  readonly postgres: ReadonlyMap<string, UpstreamTarget>;
  readonly ssh: ReadonlyMap<string, SshTarget>;
  readonly kubernetes: ReadonlyMap<string, KubernetesTarget>;
}

/** Relative file names are resolved against `configDir`, the config file's folder. */
export async function resolveTargets(connections: WardenConfig['connections'], configDir: string): Promise<FleetTargets> {
  const postgres = new Map<string, UpstreamTarget>();
  const ssh = new Map<string, SshTarget>();
  const kubernetes = new Map<string, KubernetesTarget>();
  const file = (name: string) => (path: string, field: string) => readConfigFile(resolve(configDir, path), `connections.${name}.${field}`);
  for (const [name, connection] of Object.entries(connections)) {
    if (connection.kind === 'ssh') ssh.set(name, { ...connection, privateKey: await sshPrivateKey(name, connection, file(name)) });
    else if (connection.kind === 'kubernetes') kubernetes.set(name, await kubernetesTarget(name, connection, file(name)));
    else postgres.set(name, await postgresTarget(name, connection, file(name)));
  }
  return { postgres, ssh, kubernetes };
}

type ReadFile = (path: string, field: string) => Promise<string>;

async function postgresTarget(name: string, connection: PostgresConnection, file: ReadFile): Promise<UpstreamTarget> {
  const password = connection.passwordEnv === undefined ? connection.password : fromEnvironment(name, 'passwordEnv', connection.passwordEnv, 'the password');
  const ca = connection.caFile ? await file(connection.caFile, 'caFile') : undefined;
  return { ...connection, ...(password === undefined ? {} : { password }), ...(ca === undefined ? {} : { ca }) };
}

async function sshPrivateKey(name: string, connection: SshConnection, file: ReadFile): Promise<string> {
  if (connection.privateKeyFile) return file(connection.privateKeyFile, 'privateKeyFile');
  return fromEnvironment(name, 'privateKeyEnv', connection.privateKeyEnv!, 'the private key');
}

/** The API server and the credential the gateway calls it with. */
async function kubernetesTarget(name: string, connection: KubernetesConnection, file: ReadFile): Promise<KubernetesTarget> {
  let token: string | undefined;
  if (connection.tokenEnv) token = fromEnvironment(name, 'tokenEnv', connection.tokenEnv, "the service account's token");
  else if (connection.tokenFile) token = (await file(connection.tokenFile, 'tokenFile')).trim();
  return {
    server: connection.server,
    ...(connection.caFile ? { ca: await file(connection.caFile, 'caFile') } : {}),
    ...(token ? { token } : {}),
    ...(connection.clientCertFile ? { cert: await file(connection.clientCertFile, 'clientCertFile'), key: await file(connection.clientKeyFile!, 'clientKeyFile') } : {}),
  };
}

function fromEnvironment(name: string, field: string, variable: string, what: string): string {
  const value = process.env[variable];
  if (!value) throw new ConfigError(`connections.${name}.${field}: the environment variable ${variable} is not set; export ${what} in it`);
  return value;
}
