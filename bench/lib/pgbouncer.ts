/**
 * Debian's pgbouncer in front of a throwaway cluster, in session pooling, as the benchmarks'
 * baseline for a proxy that inspects nothing. Its database `bench` is the cluster's database;
 * clients log in as `bench` with no password.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type TestPostgres } from '../../test/helpers/postgres.js';

const run = promisify(execFile);

export interface RunningPgbouncer {
  readonly port: number;
  /** Its process id, for memory figures. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** `clients`: how many clients the benchmark opens at most; the pool holds that many server connections. */
export async function startPgbouncer(db: TestPostgres, clients: number): Promise<RunningPgbouncer> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-pgbouncer-'));
  const port = await freePort();
  await writeFile(join(dir, 'userlist.txt'), '"bench" ""\n');
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `bench = host=127.0.0.1 port=${db.port} dbname=${db.database} user=${db.user} password=${db.password}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      // Session pooling: Debian's pgbouncer predates max_prepared_statements, and prepared mode needs it under transaction pooling.
      'pool_mode = session',
      `max_client_conn = ${clients * 4}`,
      `default_pool_size = ${clients}`,
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  // pgbouncer refuses to run as root.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(join(dir, file), Number(uid), Number(gid));
    await chmod(dir, 0o700);
  }
  const child = asRoot ? spawn('runuser', ['-u', 'postgres', '--', '/usr/sbin/pgbouncer', join(dir, 'pgbouncer.ini')], { stdio: 'ignore' }) : spawn('/usr/sbin/pgbouncer', [join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  for (let tries = 0; ; tries += 1) {
    try {
      await run(join(db.bindir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
      break;
    } catch {
      if (tries > 100 || child.exitCode !== null) throw new Error(`pgbouncer did not start:\n${await readFile(join(dir, 'pgbouncer.log'), 'utf8').catch(() => '')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    port,
    // As root, the child is runuser: the pool's memory is the pgbouncer process it started.
    pid: (await pgbouncerPid(join(dir, 'pgbouncer.ini'))) ?? child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The pgbouncer process serving `ini`, from /proc. */
async function pgbouncerPid(ini: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const command = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const [program, ...args] = command.split('\0');
    if (program?.endsWith('/pgbouncer') && args.includes(ini)) return Number(entry);
  }
  return undefined;
}
