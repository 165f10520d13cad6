/**
 * Runs the real `warden` CLI as child processes: `warden up` in the background, and one-shot
 * commands (token, verify) against it, exactly as a user would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { createDynamoClient } from '../../functions/lib/dynamodb.js';
import { LedgerReader, type IntegratedEntry } from '../../functions/lib/ledger-reader.js';
import { freePort } from './postgres.js';

const repo = new URL('../../', import.meta.url).pathname;
const main = join(repo, 'cli', 'main.ts');

export interface CliResult {
  readonly code: number;
  /** The signal that ended the process, if one did (a crash test's SIGKILL). */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningTestWarden {
  readonly dir: string;
  readonly configPath: string;
  readonly proxyPort: number;
  /** The SSH gateway's port (it listens only when SSH connections are configured). */
  readonly sshPort: number;
  /** The Kubernetes API gateway's port (it listens only when Kubernetes connections are configured). */
  readonly kubernetesPort: number;
  readonly env: NodeJS.ProcessEnv;
  /** Everything `warden up` printed so far, stdout and stderr. */
  output(): string;
  cli(args: readonly string[]): Promise<CliResult>;
  running(): Promise<{ pid: number; controlPlaneUrl: string; storeEndpoint?: string; ssh?: { host: string; port: number; hostKey: string } }>;
  /** Every entry of the ledger, after integrating everything durable (`warden checkpoint`). */
  ledger(): Promise<IntegratedEntry[]>;
  stop(): Promise<void>;
}

/** `onStderr` sees what the command prints while it runs, for commands that wait on the user. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env, onStderr?: (text: string) => void): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', main, ...args], { env, cwd: repo, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, signal: error?.signal ?? null, stdout, stderr });
    });
    if (onStderr) child.stderr?.on('data', (chunk: Buffer) => onStderr(chunk.toString()));
  });
}

/**
 * Writes a config (merged over test defaults: free ports, a temp state dir) and starts `warden up`.
 * `nodeArgs` go to node before the script, for flags NODE_OPTIONS refuses (a benchmark's --cpu-prof).
 */
export async function startTestWarden(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<RunningTestWarden> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-test-'));
  const proxyPort = await freePort();
  const sshPort = await freePort();
  const kubernetesPort = await freePort();
  const configPath = join(dir, 'warden.yaml');
  await writeFile(
    configPath,
    stringify({
      stateDir: 'state',
      controlPlane: { listen: { host: '127.0.0.1', port: 0 } },
      proxy: { postgres: { host: '127.0.0.1', port: proxyPort }, ssh: { host: '127.0.0.1', port: sshPort }, kubernetes: { host: '127.0.0.1', port: kubernetesPort } },
      ...config,
    }),
  );
  const childEnv = { ...process.env, ...env };
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', main, '--config', configPath, 'up'], { env: childEnv, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitForReady(child, (line) => (output += `${line}\n`), () => output);
  const stateDir = join(dir, 'state');
  const running = async () => JSON.parse(await readFile(join(stateDir, 'running.json'), 'utf8')) as { pid: number; controlPlaneUrl: string; storeEndpoint?: string; ssh?: { host: string; port: number; hostKey: string } };
  const cli = (args: readonly string[]) => runCli(['--config', configPath, ...args], childEnv);
  return {
    dir,
    configPath,
    proxyPort,
    sshPort,
    kubernetesPort,
    env: childEnv,
    output: () => output,
    cli,
    running,
    ledger: async () => {
      const settled = await cli(['checkpoint']);
      if (settled.code !== 0) throw new Error(`warden checkpoint failed: ${settled.stderr}`);
      const reader = new LedgerReader(createDynamoClient({ endpoint: (await running()).storeEndpoint!, region: 'us-east-1' }), 'warden');
      const entries: IntegratedEntry[] = [];
      for await (const entry of reader.entries()) entries.push(entry);
      return entries;
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function waitForReady(child: ChildProcess, onLine: (line: string) => void, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`warden up did not become ready within 60 s:\n${output()}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      onLine(line);
      if (line.startsWith('warden ready:')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`warden up exited with ${code}:\n${output()}`));
    });
  });
}
