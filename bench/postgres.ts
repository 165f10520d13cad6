/**
 * PostgreSQL data-path benchmark: `pgbench -S` side by side against PostgreSQL directly,
 * through pgbouncer (Debian's, session pooling) and through Warden with policy and the
 * ledger on, in simple and prepared modes, all in one run on one throwaway cluster.
 * Prints one table and writes bench/results-postgres.json.
 *
 * Run: npm run bench:postgres [-- --seconds 10 --clients 16 --threads 2 --scale 10 --modes simple,prepared --out results-postgres.json]
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startTestPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { startPgbouncer } from './lib/pgbouncer.js';
import { startTestWarden } from '../test/helpers/warden.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '16' },
    threads: { type: 'string', default: '2' },
    scale: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'simple,prepared' },
    out: { type: 'string', default: 'results-postgres.json' },
  },
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const threads = Number(values.threads);

interface Result {
  readonly target: string;
  readonly mode: string;
  readonly tps: number;
  readonly latencyMs: number;
  /** How long opening all the clients' connections took. */
  readonly connectMs: number;
}

async function pgbench(db: TestPostgres, port: number, user: string, database: string, password: string, mode: string): Promise<{ tps: number; latencyMs: number; connectMs: number }> {
  const { stdout } = await run(join(db.bindir, 'pgbench'), ['-n', '-S', '-M', mode, '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-h', '127.0.0.1', '-p', String(port), '-U', user, database], {
    env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  // pgbench opens every client's connection before its clock starts.
  const connectMs = Number(/initial connection time = ([\d.]+) ms/.exec(stdout)?.[1]);
  if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps (with many clients, connecting can take longer than --seconds):\n${stdout}`);
  return { tps, latencyMs, connectMs };
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// pgbouncer keeps a pooled server connection per client after its run, and Warden then opens one per client.
const db = await startTestPostgres({ settings: { max_connections: String(2 * clients + 50) } });
const results: Result[] = [];
try {
  process.stderr.write(`pgbench -i -s ${values.scale}…\n`);
  await run(join(db.bindir, 'pgbench'), ['-i', '-s', String(values.scale), '-q', '-h', '127.0.0.1', '-p', String(db.port), '-U', db.user, db.database], { env: { ...process.env, PGPASSWORD: db.password } });
  const bouncer = await startPgbouncer(db, clients);
  const warden = await startTestWarden(
    { connections: { bench: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'BENCH_DB_PASSWORD', tls: 'disable' } }, ledger: { checkpointIntervalSeconds: 5 } },
    { BENCH_DB_PASSWORD: db.password },
  );
  try {
    const token = (await warden.cli(['token', '--as', 'bench-agent'])).stdout.trim();
    for (const mode of values.modes.split(',')) {
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
await writeFile(new URL(values.out, import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), clients, threads, seconds, results }, null, 2)}\n`);
