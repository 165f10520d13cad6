/** Reads warden.yaml, validates it against core/config.ts, and resolves paths and secrets. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { describeConfigIssues, wardenConfigSchema, type PostgresConnection, type WardenConfig } from '../core/config.js';
import type { SlackSettings } from '../functions/lib/slack-notifier.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadedConfig {
  readonly config: WardenConfig;
  /** The file it came from, or undefined when no file exists and the defaults apply. */
  readonly path: string | undefined;
  readonly stateDir: string;
}

export const DEFAULT_CONFIG_FILE = 'warden.yaml';

/**
 * Loads `path`, or ./warden.yaml when no path is given. A missing default file means "all
 * defaults" (the demo); a missing file that was asked for is an error.
 */
export async function loadConfig(path: string | undefined): Promise<LoadedConfig> {
  // An empty WARDEN_CONFIG (exported but unset) counts as none.
  const fromEnvironment = process.env.WARDEN_CONFIG || undefined;
  const file = resolve(path ?? fromEnvironment ?? DEFAULT_CONFIG_FILE);
  const explicit = path !== undefined || fromEnvironment !== undefined;
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || explicit) {
      throw new ConfigError(`cannot read the config file ${file}: ${(error as Error).message}; pass an existing file with --config`);
    }
  }
  let raw: unknown = {};
  if (text !== undefined) {
    try {
      raw = parseYaml(text) ?? {};
    } catch (error) {
      if (error instanceof YAMLParseError) {
        const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
        throw new ConfigError(`${file} is not valid YAML${where}: ${error.message.split('\n')[0]}`);
      }
      throw error;
    }
  }
  const parsed = wardenConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeConfigIssues(parsed.error, text === undefined ? 'the default configuration' : file));
  const base = text === undefined ? process.cwd() : dirname(file);
  return { config: parsed.data, path: text === undefined ? undefined : file, stateDir: resolve(base, parsed.data.stateDir) };
}

/** The password for a connection, from its environment variable or the file. */
export function connectionPassword(name: string, connection: PostgresConnection): string | undefined {
  if (connection.passwordEnv === undefined) return connection.password;
  const value = process.env[connection.passwordEnv];
  if (value === undefined) {
    throw new ConfigError(`connections.${name}.passwordEnv: the environment variable ${connection.passwordEnv} is not set; export it before starting Warden`);
  }
  return value;
}

/** Slack's webhook URL and signing secret, from the environment variables approvals.slack names. */
export function slackSettings(config: WardenConfig): SlackSettings | undefined {
  const slack = config.approvals.slack;
  if (!slack) return undefined;
  const read = (field: string, name: string) => {
    const value = process.env[name];
    if (!value) throw new ConfigError(`approvals.slack.${field}: the environment variable ${name} is not set; export it before starting Warden`);
    return value;
  };
  return {
    webhookUrl: read('webhookUrlEnv', slack.webhookUrlEnv),
    signingSecret: read('signingSecretEnv', slack.signingSecretEnv),
    responseUrlPrefix: slack.responseUrlPrefix,
    users: slack.users,
  };
}
