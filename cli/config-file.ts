/** Finds warden.yaml, reads it (core/config.ts parseConfigText, shared with the proxy fleet and Lambda), and resolves paths and secrets. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { WardenConfig } from '../core/config.js';
import type { SlackSettings } from '../functions/lib/slack-notifier.js';
import { ConfigError, parseConfigText } from '../core/config.js';

export { ConfigError };

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
  const config = parseConfigText(text, file);
  const base = text === undefined ? process.cwd() : dirname(file);
  return { config, path: text === undefined ? undefined : file, stateDir: resolve(base, config.stateDir) };
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
