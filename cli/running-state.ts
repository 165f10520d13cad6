/** `warden up` records where it listens, so `warden token` and `warden verify` can find it. */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { statePaths } from '../functions/lib/runtime.js';

const runningSchema = z.object({
  pid: z.number().int(),
  controlPlaneUrl: z.string(),
  storeEndpoint: z.string().optional(),
  postgres: z.object({ host: z.string(), port: z.number().int() }),
  ssh: z.object({ host: z.string(), port: z.number().int(), hostKey: z.string() }).optional(),
  /** The Kubernetes API gateway: kubeconfig servers are https://host:port/clusters/CONNECTION; certFile is its TLS certificate (PEM). */
  kubernetes: z.object({ host: z.string(), port: z.number().int(), certFile: z.string() }).optional(),
});
export type RunningState = z.infer<typeof runningSchema>;

export async function writeRunningState(stateDir: string, state: RunningState): Promise<void> {
  await writeFile(statePaths(stateDir).running, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export async function clearRunningState(stateDir: string): Promise<void> {
  await rm(statePaths(stateDir).running, { force: true });
}

/** The state of a `warden up` that is still alive, if any. */
export async function readRunningState(stateDir: string): Promise<RunningState | undefined> {
  let text: string;
  try {
    text = await readFile(statePaths(stateDir).running, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = runningSchema.safeParse(JSON.parse(text));
  if (!parsed.success || !isAlive(parsed.data.pid)) return undefined;
  return parsed.data;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
