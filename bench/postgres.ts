/**
 * PostgreSQL data-path benchmark: `pgbench -S` side by side against PostgreSQL directly,
 * through pgbouncer (Debian's, session pooling) and through Warden with policy and the
 * ledger on, in simple and prepared modes, all in one run on one throwaway cluster.
 * Prints one table and writes bench/results-postgres.json.
 *
 * Run: npm run bench:postgres [-- --seconds 10 --clients 16 --threads 2 --scale 10]
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { freePort, startTestPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { startTestWarden } from '../test/helpers/warden.js';

const run = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, clients: { type: 'string', default: '16' }, threads: { type: 'string', default: '2' }, scale: { type: 'string', default: '10' } } });
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const threads = Number(values.threads);

interface Result {
  readonly target: string;
  readonly mode: string;
  readonly tps: number;
  readonly latencyMs: number;
}

async function pgbench(db: TestPostgres, port: number, user: string, database: string, password: string, mode: string): Promise<{ tps: number; latencyMs: number }> {
  const { stdout } = await run(join(db.bindir, 'pgbench'), ['-n', '-S', '-M', mode, '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-h', '127.0.0.1', '-p', String(port), '-U', user, database], {
    env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return { tps, latencyMs };
}

async function startPgbouncer(db: TestPostgres): Promise<{ port: number; stop(): Promise<void> }> {
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

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const db = await startTestPostgres();
const results: Result[] = [];
try {
  process.stderr.write(`pgbench -i -s ${values.scale}…\n`);
  await run(join(db.bindir, 'pgbench'), ['-i', '-s', String(values.scale), '-q', '-h', '127.0.0.1', '-p', String(db.port), '-U', db.user, db.database], { env: { ...process.env, PGPASSWORD: db.password } });
  const bouncer = await startPgbouncer(db);
  const warden = await startTestWarden(
    { connections: { bench: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'BENCH_DB_PASSWORD', tls: 'disable' } }, ledger: { checkpointIntervalSeconds: 5 } },
    { BENCH_DB_PASSWORD: db.password },
  );
  try {
    const token = (await warden.cli(['token', '--as', 'bench-agent'])).stdout.trim();
    for (const mode of ['simple', 'prepared']) {
      for (const [target, port, user, database, password] of [
        ['PostgreSQL direct', db.port, db.user, db.database, db.password],
        ['pgbouncer (session pooling)', bouncer.port, 'bench', 'bench', ''],
        ['Warden (policy + ledger)', warden.proxyPort, 'bench-agent', 'bench', token],
      ] as const) {
        process.stderr.write(`${target}, ${mode}…\n`);
        results.push({ target, mode, ...(await pgbench(db, port, user, database, password, mode)) });
      }
    }
  } finally {
    await warden.stop();
    await bouncer.stop();
  }
} finally {
  await db.stop();
}

console.log(`\npgbench -S -c${clients} -j${threads} -T${seconds} (node ${process.version}, ${new Date().toISOString()})`);
console.log(`${'mode'.padEnd(10)}${'target'.padEnd(34)}${'tps'.padStart(10)}${'latency ms'.padStart(12)}${'vs direct'.padStart(11)}${'vs pgbouncer'.padStart(14)}`);
for (const result of results) {
  const direct = results.find((r) => r.mode === result.mode && r.target === 'PostgreSQL direct')!;
  const bouncer = results.find((r) => r.mode === result.mode && r.target.startsWith('pgbouncer'))!;
  console.log(
    `${result.mode.padEnd(10)}${result.target.padEnd(34)}${result.tps.toFixed(0).padStart(10)}${result.latencyMs.toFixed(2).padStart(12)}${(result.tps / direct.tps).toFixed(2).padStart(11)}${(result.tps / bouncer.tps).toFixed(2).padStart(14)}`,
  );
}
await writeFile(new URL('./results-postgres.json', import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), clients, threads, seconds, results }, null, 2)}\n`);
