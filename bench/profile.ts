/**
 * Where Warden's CPU goes under `pgbench -S`: runs `warden up` with V8's CPU profiler on every
 * thread (--cpu-prof), drives it with pgbench for a while, stops it, and sorts each thread's
 * samples into the parts of the data path (proxy, control plane, ledger append, integration,
 * store client, store, parser, Cedar, masking, HTTP, GC). Prints CPU milliseconds and µs per
 * transaction for each part, the top functions by self time, and writes
 * bench/results-profile.json. The .cpuprofile files stay in --keep DIR for Chrome DevTools.
 *
 * Run: npm run bench:profile [-- --seconds 15 --clients 16 --mode simple --keep /tmp/warden-profiles]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startTestPostgres } from '../test/helpers/postgres.js';
import { startTestWarden } from '../test/helpers/warden.js';
import { monotonicUs, printProcessProfile, readProcessProfile } from './lib/cpu-profile.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    clients: { type: 'string', default: '16' },
    mode: { type: 'string', default: 'simple' },
    keep: { type: 'string' },
    out: { type: 'string', default: 'results-profile.json' },
  },
});
const clients = Number(values.clients);

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const profileDir = values.keep ?? (await mkdtemp(join(tmpdir(), 'warden-profile-')));
const db = await startTestPostgres({ settings: { max_connections: String(clients + 50) } });
let transactions = 0;
let tps = 0;
let wardenPid = 0;
// Samples count only while pgbench ran: start-up (loading modules, making keys) is not the data path.
const loadWindow = { fromUs: 0, toUs: 0 };
try {
  process.stderr.write('pgbench -i -s 10…\n');
  await run(join(db.bindir, 'pgbench'), ['-i', '-s', '10', '-q', '-h', '127.0.0.1', '-p', String(db.port), '-U', db.user, db.database], { env: { ...process.env, PGPASSWORD: db.password } });
  const warden = await startTestWarden(
    { connections: { bench: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'BENCH_DB_PASSWORD', tls: 'disable' } }, ledger: { checkpointIntervalSeconds: 5 } },
    { BENCH_DB_PASSWORD: db.password },
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  try {
    wardenPid = (await warden.running()).pid;
    const token = (await warden.cli(['token', '--as', 'bench-agent'])).stdout.trim();
    process.stderr.write(`pgbench -S -M ${values.mode} -c${clients} -T${values.seconds} through Warden (profiling pid ${wardenPid})…\n`);
    loadWindow.fromUs = monotonicUs();
    const { stdout } = await run(
      join(db.bindir, 'pgbench'),
      ['-n', '-S', '-M', values.mode, '-c', String(clients), '-j', '2', '-T', values.seconds, '-h', '127.0.0.1', '-p', String(warden.proxyPort), '-U', 'bench-agent', 'bench'],
      { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' }, maxBuffer: 16 * 1024 * 1024 },
    );
    transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
    tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
    loadWindow.toUs = monotonicUs();
  } finally {
    // The profiler writes its files when the process exits.
    await warden.stop();
  }
} finally {
  await db.stop();
}

const profile = await readProcessProfile(profileDir, wardenPid, loadWindow);
if (!values.keep) await rm(profileDir, { recursive: true, force: true });
const perTransaction = (ms: number) => (transactions > 0 ? (ms * 1000) / transactions : 0);
console.log(`\nwarden up under pgbench -S -M ${values.mode} -c${clients} -T${values.seconds}: ${transactions} transactions, ${tps.toFixed(0)} tps (profiled, so slower than unprofiled)`);
console.log(`CPU while pgbench ran: ${profile.cpuMs.toFixed(0)} ms on ${profile.threads.length} threads, ${perTransaction(profile.cpuMs).toFixed(0)} µs per transaction\n`);
printProcessProfile(profile, { label: 'µs/txn', of: perTransaction });
await writeFile(
  new URL(values.out, import.meta.url),
  `${JSON.stringify({ node: process.version, at: new Date().toISOString(), mode: values.mode, clients, seconds: Number(values.seconds), transactions, tps, cpuMs: profile.cpuMs, parts: Object.fromEntries(profile.parts), threads: profile.threads }, null, 2)}\n`,
);
