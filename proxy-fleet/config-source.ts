/**
 * Reading the configuration: warden.yaml's text into a valid WardenConfig (core/config.ts,
 * parseConfigText), and the files it names. `warden up` (cli/config-file.ts) and the proxy fleet's own process
 * (main.ts) read it the same way, and fail with the same error.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/config.js';

/** A file the configuration names (a key, a certificate, a CA), at `field`. */
export async function readConfigFile(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); fix the path`);
  }
}
