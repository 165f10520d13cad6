/**
 * A TypeScript entry point run as its own process (node --import tsx), so a fault test can
 * kill it with SIGKILL and start it again. It is ready once it logs a JSON line whose `event`
 * is the one awaited, on stdout or stderr; every line it logs is kept for the test to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface RunningChild {
  readonly pid: number;
  /** The ready line, parsed. */
  readonly ready: Record<string, unknown>;
  /** Every line logged so far, stdout and stderr. */
  readonly lines: string[];
  /** SIGKILL, and resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM if it still runs, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function startChild(script: string, env: NodeJS.ProcessEnv, readyEvent: string): Promise<RunningChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not log "${readyEvent}" within 60 s:\n${lines.join('\n')}`));
    }, 60_000);
    const exitedEarly = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${lines.join('\n')}`));
    };
    child.once('exit', exitedEarly);
    const onLine = (line: string) => {
      lines.push(line);
      const event = parseEvent(line);
      if (event?.event !== readyEvent) return;
      clearTimeout(timer);
      child.off('exit', exitedEarly);
      resolve(controls(child, event, lines));
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
  });
}

function controls(child: ChildProcess, ready: Record<string, unknown>, lines: string[]): RunningChild {
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const exited = once(child, 'exit');
  return {
    pid: child.pid!,
    ready,
    lines,
    kill9: async () => {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    stop: async (graceMs = 5_000) => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function parseEvent(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
