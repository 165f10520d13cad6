/**
 * Reading the configuration: warden.yaml's text into a valid WardenConfig (core/config.ts), and
 * the files it names. `warden up` (cli/config-file.ts) and the proxy fleet's own process
 * (main.ts) read it the same way, and fail with the same error.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { describeConfigIssues, wardenConfigSchema, type WardenConfig } from '../core/config.js';

/** The configuration, or something it points to, is wrong; the message names the field and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `text` is YAML (or JSON); undefined means no file, so every default applies. `source` names it in errors. */
export function parseConfigText(text: string | undefined, source: string): WardenConfig {
  let raw: unknown = {};
  if (text !== undefined) {
    try {
      raw = parseYaml(text) ?? {};
    } catch (error) {
      if (error instanceof YAMLParseError) {
        const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
        throw new ConfigError(`${source} is not valid YAML${where}: ${error.message.split('\n')[0]}`);
      }
      throw error;
    }
  }
  const parsed = wardenConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeConfigIssues(parsed.error, text === undefined ? 'the default configuration' : source));
  return parsed.data;
}

/** A file the configuration names (a key, a certificate, a CA), at `field`. */
export async function readConfigFile(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); fix the path`);
  }
}
