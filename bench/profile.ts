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
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startTestPostgres } from '../test/helpers/postgres.js';
import { startTestWarden } from '../test/helpers/warden.js';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './lib/cpu-profile.js';

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
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
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

// Node names each file CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; only warden up's threads count.
const files = (await readdir(profileDir)).filter((name) => name.split('.')[3] === String(wardenPid));
if (files.length === 0) throw new Error(`no CPU profile of warden up (pid ${wardenPid}) in ${profileDir}`);
const threads: { thread: string; summary: ProfileSummary }[] = [];
for (const name of files.sort()) {
  const profile = JSON.parse(await readFile(join(profileDir, name), 'utf8')) as CpuProfile;
  threads.push({ thread: `thread ${name.split('.')[4]}`, summary: summarizeProfile(profile, loadWindow) });
}
if (!values.keep) await rm(profileDir, { recursive: true, force: true });

const perTransaction = (ms: number) => (transactions > 0 ? (ms * 1000) / transactions : 0);
const totalMs = threads.reduce((sum, { summary }) => sum + summary.busyMs, 0);
console.log(`\nwarden up under pgbench -S -M ${values.mode} -c${clients} -T${values.seconds}: ${transactions} transactions, ${tps.toFixed(0)} tps (profiled, so slower than unprofiled)`);
console.log(`CPU while pgbench ran: ${totalMs.toFixed(0)} ms on ${threads.length} threads, ${perTransaction(totalMs).toFixed(0)} µs per transaction\n`);
const parts = new Map<string, number>();
for (const { summary } of threads) for (const [part, ms] of Object.entries(summary.parts)) parts.set(part, (parts.get(part) ?? 0) + ms);
const partRows = [...parts].sort((a, b) => b[1] - a[1]);
console.log(`${'part of the data path'.padEnd(44)}${'CPU ms'.padStart(9)}${'share'.padStart(8)}${'µs/txn'.padStart(9)}`);
for (const [part, ms] of partRows) console.log(`${part.padEnd(44)}${ms.toFixed(0).padStart(9)}${`${((100 * ms) / totalMs).toFixed(1)}%`.padStart(8)}${perTransaction(ms).toFixed(0).padStart(9)}`);
for (const { thread, summary } of threads) {
  console.log(`\n${thread}: ${summary.busyMs.toFixed(0)} ms busy; top functions by self time`);
  for (const fn of summary.topFunctions.slice(0, 12)) console.log(`  ${fn.selfMs.toFixed(0).padStart(7)} ms  ${fn.part.padEnd(30)} ${fn.name}`);
}
await writeFile(
  new URL(values.out, import.meta.url),
  `${JSON.stringify({ node: process.version, at: new Date().toISOString(), mode: values.mode, clients, seconds: Number(values.seconds), transactions, tps, cpuMs: totalMs, parts: Object.fromEntries(partRows), threads }, null, 2)}\n`,
);
