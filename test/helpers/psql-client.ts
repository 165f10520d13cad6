/** psql through the gateway, as a person runs it, for tests of held statements. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface PsqlRun {
  readonly child: ChildProcess;
  /** The approval id, once Warden's "waiting for approval" notice arrives; rejects if psql ends first. */
  readonly held: Promise<string>;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface PsqlTarget {
  /** Where psql is (TestPostgres.bindir). */
  readonly bindir: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

/** Runs psql with `args` after the connection options, the Warden token as the password. */
export function spawnPsql(target: PsqlTarget, password: string, args: readonly string[], env: Record<string, string> = {}): PsqlRun {
  const child = spawn(join(target.bindir, 'psql'), ['-h', '127.0.0.1', '-p', String(target.port), '-U', target.user, '-d', target.database, '-X', '-A', ...args], {
    env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const held = new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const id = /waiting for approval (apr_[\w-]+)/.exec(stderr)?.[1];
      if (id) resolve(id);
    });
    child.once('exit', () => reject(new Error(`psql ended without being held: ${stderr}`)));
  });
  held.catch(() => undefined);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, held, done };
}
