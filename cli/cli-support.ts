/** What every CLI command shares: its error type (with an exit code) and how to find a running Warden. */
import { readRunningState } from './running-state.js';
import type { LoadedConfig } from './config-file.js';

/** Exit codes: 1 the check or request failed, 2 usage or configuration, 3 a service is unreachable. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 3,
  ) {
    super(message);
  }
}

export async function controlPlaneUrl(loaded: LoadedConfig): Promise<string> {
  const running = await readRunningState(loaded.stateDir);
  if (running) return running.controlPlaneUrl;
  const { host, port } = loaded.config.controlPlane.listen;
  return `http://${host}:${port}`;
}
