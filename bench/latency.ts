/**
 * What one session pays through Warden, beside PostgreSQL direct and pgbouncer, in one run on
 * one throwaway cluster:
 * - the latency of one statement at a time (node-postgres, simple protocol): p50 and p99, and
 *   what Warden adds over direct;
 * - result size: one query returning 1, 100 and 10,000 rows of about 100 bytes, whose every
 *   value Warden's masking scans;
 * - memory per idle session: how much each process's resident memory grows per open, idle
 *   client connection (Warden's `warden up` process, control plane included, against pgbouncer).
 * Prints one table and writes bench/results-latency.json.
 *
 * Run: npm run bench:latency [-- --statements 2000 --idle 200]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startTestPostgres } from '../test/helpers/postgres.js';
import { startTestWarden } from '../test/helpers/warden.js';
import { startPgbouncer } from './lib/pgbouncer.js';

const { values } = parseArgs({ options: { statements: { type: 'string', default: '2000' }, idle: { type: 'string', default: '200' } } });
const statements = Number(values.statements);
const idle = Number(values.idle);
const RESULT_ROWS = [1, 100, 10_000];

interface Target {
  readonly name: string;
  readonly connect: () => pg.ClientConfig;
  /** The process whose memory grows with sessions, when there is one to measure. */
  readonly pid?: number;
}

export interface LatencyRow {
  readonly figure: string;
  readonly unit: string;
  readonly direct?: number;
  readonly pgbouncer?: number;
  readonly warden: number;
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

async function withClient<T>(target: Target, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(target.connect());
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Milliseconds per statement, one at a time, after a warm-up. */
async function statementLatency(target: Target): Promise<{ p50: number; p99: number }> {
  return withClient(target, async (client) => {
    for (let i = 0; i < 100; i += 1) await client.query(`SELECT abalance FROM accounts WHERE aid = ${1 + i}`);
    const times = new Float64Array(statements);
    for (let i = 0; i < statements; i += 1) {
      const started = performance.now();
      await client.query(`SELECT abalance FROM accounts WHERE aid = ${1 + ((i * 7919) % 10_000)}`);
      times[i] = performance.now() - started;
    }
    times.sort();
    return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
  });
}

/** Median milliseconds for one query that returns `rows` rows. */
async function resultTime(target: Target, rows: number): Promise<number> {
  return withClient(target, async (client) => {
    const query = `SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS note FROM generate_series(1, ${rows}) g`;
    await client.query(query);
    const samples: number[] = [];
    const runs = rows >= 10_000 ? 10 : 50;
    for (let i = 0; i < runs; i += 1) {
      const started = performance.now();
      await client.query(query);
      samples.push(performance.now() - started);
    }
    return median(samples);
  });
}

async function residentKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
}

/**
 * KiB of resident memory per idle session: open `idle` connections, let them settle, measure,
 * close. Garbage collection can shrink the process between two readings, so this is done three
 * times and the median taken.
 */
async function memoryPerIdleSession(target: Target & { pid: number }): Promise<number> {
  const rounds: number[] = [];
  for (let round = 0; round < 3; round += 1) rounds.push(await idleSessionsRound(target));
  return rounds.sort((a, b) => a - b)[1]!;
}

async function idleSessionsRound(target: Target & { pid: number }): Promise<number> {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 2000));
  const before = await residentKiB(target.pid);
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < idle; i += 1) {
      const client = new pg.Client(target.connect());
      await client.connect();
      await client.query('SELECT 1');
      clients.push(client);
    }
    await settle();
    return ((await residentKiB(target.pid)) - before) / idle;
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await settle();
  }
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// pgbouncer keeps its server connections pooled after its idle clients leave, and Warden then opens one per session.
const db = await startTestPostgres({ settings: { max_connections: String(2 * idle + 60) } });
const rows: LatencyRow[] = [];
try {
  await db.sql('CREATE TABLE accounts (aid int PRIMARY KEY, abalance int NOT NULL); INSERT INTO accounts SELECT g, g % 1000 FROM generate_series(1, 10000) g;', db.database);
  await db.sql(`GRANT SELECT ON accounts TO ${db.user}`, db.database);
  const bouncer = await startPgbouncer(db, idle + 4);
  const warden = await startTestWarden(
    { connections: { bench: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'BENCH_DB_PASSWORD', tls: 'disable' } } },
    { BENCH_DB_PASSWORD: db.password },
  );
  try {
    const token = (await warden.cli(['token', '--as', 'bench-agent'])).stdout.trim();
    const direct: Target = { name: 'direct', connect: () => ({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database }) };
    const pooled: Target = { name: 'pgbouncer', pid: bouncer.pid, connect: () => ({ host: '127.0.0.1', port: bouncer.port, user: 'bench', database: 'bench' }) };
    const gateway: Target = { name: 'Warden', pid: (await warden.running()).pid, connect: () => ({ host: '127.0.0.1', port: warden.proxyPort, user: 'bench-agent', password: token, database: 'bench' }) };

    process.stderr.write(`statement latency, ${statements} statements each…\n`);
    const [d, b, w] = [await statementLatency(direct), await statementLatency(pooled), await statementLatency(gateway)];
    rows.push({ figure: 'statement latency p50', unit: 'ms', direct: d.p50, pgbouncer: b.p50, warden: w.p50 });
    rows.push({ figure: 'statement latency p99', unit: 'ms', direct: d.p99, pgbouncer: b.p99, warden: w.p99 });
    rows.push({ figure: 'added latency per statement p50 (Warden − direct)', unit: 'ms', warden: w.p50 - d.p50 });
    rows.push({ figure: 'added latency per statement p99 (Warden − direct)', unit: 'ms', warden: w.p99 - d.p99 });

    for (const count of RESULT_ROWS) {
      process.stderr.write(`a result of ${count} rows…\n`);
      rows.push({ figure: `one query returning ${count.toLocaleString('en')} rows`, unit: 'ms', direct: await resultTime(direct, count), pgbouncer: await resultTime(pooled, count), warden: await resultTime(gateway, count) });
    }

    process.stderr.write(`memory per idle session, ${idle} sessions each…\n`);
    rows.push({ figure: `memory per idle session (${idle} open)`, unit: 'KiB', pgbouncer: await memoryPerIdleSession({ ...pooled, pid: bouncer.pid }), warden: await memoryPerIdleSession({ ...gateway, pid: gateway.pid! }) });
  } finally {
    await warden.stop();
    await bouncer.stop();
  }
} finally {
  await db.stop();
}

const cell = (value: number | undefined) => (value === undefined ? '' : value >= 100 ? value.toFixed(0) : value.toFixed(2)).padStart(11);
console.log(`\nper-session cost through Warden (node ${process.version}, ${new Date().toISOString()})`);
console.log(`${'figure'.padEnd(52)}${'direct'.padStart(11)}${'pgbouncer'.padStart(11)}${'Warden'.padStart(11)}  unit`);
for (const row of rows) console.log(`${row.figure.padEnd(52)}${cell(row.direct)}${cell(row.pgbouncer)}${cell(row.warden)}  ${row.unit}`);
await writeFile(new URL('./results-latency.json', import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), statements, idle, rows }, null, 2)}\n`);
