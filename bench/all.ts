/**
 * `npm run bench`: every benchmark in bench/, one after another (each gets the machine to itself),
 * then one table in which each figure sits beside its baseline from the same run, checked against
 * the performance budget (DESIGN.md), and the same table as JSON in bench/results.json.
 *
 * "Where the CPU goes" profiles warden up under pgbench (bench/profile.ts), part by part of the
 * data path. "How it scales" runs the PostgreSQL benchmark at 10, 100 and 500 concurrent sessions and the
 * ledger's verify at 1k, 100k and 1M entries; result size comes from bench/latency.ts.
 *
 * Run: npm run bench [-- --seconds 8] [--quick] [--report-only]
 *   --quick: shorter runs and smaller sizes, for a smoke check; --report-only: the table from the
 *   results-*.json files of the last run, without running anything.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, quick: { type: 'boolean', default: false }, 'report-only': { type: 'boolean', default: false } } });
const quick = values.quick;
const seconds = quick ? '3' : values.seconds;

interface Figure {
  readonly section: string;
  readonly figure: string;
  readonly unit: string;
  readonly warden: number;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** The budget's line, and whether this run meets it. */
  readonly target?: { readonly text: string; readonly met: boolean };
}

/** Runs one benchmark script to completion, its progress and table on this terminal. */
async function bench(script: string, args: string[] = [], nodeOptions: string[] = []): Promise<void> {
  process.stderr.write(`\n▶ ${script} ${args.join(' ')}\n`);
  const child = spawn(process.execPath, [...nodeOptions, '--import', 'tsx', new URL(script, import.meta.url).pathname, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} exited with ${code}; its output is above`);
}

const read = async <T>(file: string): Promise<T> => JSON.parse(await readFile(new URL(file, import.meta.url), 'utf8')) as T;

interface PostgresResults {
  readonly results: { target: string; mode: string; tps: number; latencyMs: number; connectMs: number }[];
}
interface RowsOf<T> {
  readonly rows: T[];
}
type LatencyRow = { figure: string; unit: string; direct?: number; pgbouncer?: number; warden: number };
type LedgerRow = { measure: string; value: number; unit: string; baseline?: { label: string; value: number } };
type SshRow = { figure: string; direct: number; warden: number; unit: string };
type PolicyRow = { sample: string; p50: number; p99: number };
type MaskingRow = { measure: string; mbPerSecond: number };
type ProfileResults = { transactions: number; cpuMs: number; parts: Record<string, number> };

function pgbenchFigures(section: string, label: string, { results }: PostgresResults, budget: boolean): Figure[] {
  return [...new Set(results.map((r) => r.mode))].flatMap((mode) => {
    const of = (prefix: string) => results.find((r) => r.mode === mode && r.target.startsWith(prefix))!;
    const [direct, bouncer, warden] = [of('PostgreSQL direct'), of('pgbouncer'), of('Warden')];
    const figure = (baseline: typeof direct, share: number): Figure => ({
      section,
      figure: `pgbench -S ${mode}${label}`,
      unit: 'tps',
      warden: warden.tps,
      baseline: { name: baseline === direct ? 'direct' : 'pgbouncer', value: baseline.tps },
      ...(budget ? { target: { text: `≥ ${share} × ${baseline === direct ? 'direct' : 'pgbouncer'}`, met: warden.tps >= share * baseline.tps } } : {}),
    });
    return [figure(direct, 0.5), figure(bouncer, 0.8)];
  });
}

const files = {
  postgres: 'results-postgres.json',
  latency: 'results-latency.json',
  ledger: 'results-ledger.json',
  masking: 'results-masking.json',
  profile: 'results-profile.json',
  ssh: 'results-ssh.json',
  policy: 'results-policy.json',
  sessions: (n: number) => `results-postgres-${n}-sessions.json`,
  ledgerSize: (n: number) => `results-ledger-${n}.json`,
};
const SESSIONS = quick ? [10, 100] : [10, 100, 500];
const LEDGER_SIZES = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];
const LEDGER_NODE = ['--max-old-space-size=8192'];

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
if (!values['report-only']) {
  await bench('postgres.ts', ['--seconds', seconds]);
  await bench('latency.ts', quick ? ['--statements', '500', '--idle', '50'] : []);
  await bench('ledger.ts', ['--entries', String(LEDGER_SIZES.at(-1)), ...(quick ? ['--append-entries', '5000'] : [])], LEDGER_NODE);
  await bench('masking.ts', quick ? ['--mb', '10', '--seconds', '1'] : []);
  await bench('ssh.ts', quick ? ['--megabytes', '8', '--runs', '1'] : []);
  await bench('policy.ts');
  await bench('profile.ts', ['--seconds', seconds]);
  // Hundreds of sessions take several seconds to connect through Warden, before pgbench's clock starts.
  for (const sessions of SESSIONS) await bench('postgres.ts', ['--seconds', sessions >= 500 ? '30' : seconds, '--clients', String(sessions), '--modes', 'simple', '--out', files.sessions(sessions)]);
  for (const size of LEDGER_SIZES.slice(0, -1)) await bench('ledger.ts', ['--entries', String(size), '--append-entries', '5000', '--out', files.ledgerSize(size)], LEDGER_NODE);
}

const figures: Figure[] = [];
figures.push(...pgbenchFigures('PostgreSQL', '', await read<PostgresResults>(files.postgres), true));

const latency = (await read<RowsOf<LatencyRow>>(files.latency)).rows;
for (const row of latency) {
  if (row.figure.startsWith('added latency')) {
    const p50 = row.figure.includes('p50');
    figures.push({ section: 'PostgreSQL', figure: row.figure, unit: row.unit, warden: row.warden, ...(p50 ? { target: { text: '≤ 0.5 ms', met: row.warden <= 0.5 } } : {}) });
  } else if (row.figure.startsWith('memory')) {
    figures.push({ section: 'PostgreSQL', figure: row.figure, unit: row.unit, warden: row.warden, baseline: { name: 'pgbouncer', value: row.pgbouncer! } });
  }
}

const ledger = (await read<RowsOf<LedgerRow>>(files.ledger)).rows;
for (const row of ledger) {
  if (row.measure.startsWith('append, 64')) {
    figures.push({ section: 'Ledger', figure: row.measure, unit: row.unit, warden: row.value, ...(row.baseline ? { baseline: { name: row.baseline.label, value: row.baseline.value } } : {}), target: { text: '≥ 10,000', met: row.value >= 10_000 } });
  } else if (row.measure.startsWith('integrate')) {
    figures.push({ section: 'Ledger', figure: row.measure, unit: row.unit, warden: row.value, target: { text: '≥ 10,000', met: row.value >= 10_000 } });
  } else if (row.measure.startsWith('verify')) {
    figures.push({ section: 'Ledger', figure: row.measure, unit: row.unit, warden: row.value, ...(row.measure.includes('1000000') ? { target: { text: '≤ 10 s', met: row.value <= 10 } } : {}) });
  }
}

const masking = (await read<RowsOf<MaskingRow>>(files.masking)).rows;
const readBaseline = masking.find((row) => row.measure.startsWith('read every character'));
for (const row of masking.filter((r) => r !== readBaseline)) {
  figures.push({
    section: 'Masking',
    figure: `${row.measure}, one core`,
    unit: 'MB/s',
    warden: row.mbPerSecond,
    ...(readBaseline ? { baseline: { name: 'read every character', value: readBaseline.mbPerSecond } } : {}),
    ...(row.measure.startsWith('DataRow through the proxy') ? { target: { text: '≥ 200', met: row.mbPerSecond >= 200 } } : {}),
  });
}

for (const row of (await read<RowsOf<SshRow>>(files.ssh)).rows) {
  const bulk = row.unit === 'MB/s';
  figures.push({ section: 'SSH', figure: row.figure, unit: row.unit, warden: row.warden, baseline: { name: 'direct ssh', value: row.direct }, ...(bulk ? { target: { text: '≥ 0.5 × direct', met: row.warden >= 0.5 * row.direct } } : {}) });
}

for (const row of (await read<RowsOf<PolicyRow>>(files.policy)).rows) {
  figures.push({ section: 'Control plane', figure: `decision (parse + Cedar) p50, ${row.sample}`, unit: 'µs', warden: row.p50 });
  figures.push({ section: 'Control plane', figure: `decision (parse + Cedar) p99, ${row.sample}`, unit: 'µs', warden: row.p99 });
}

// Where the CPU of one pgbench transaction goes, from a profile of every thread of warden up.
const profile = await read<ProfileResults>(files.profile);
const perTransaction = (ms: number) => (ms * 1000) / profile.transactions;
figures.push({ section: 'Where the CPU goes (pgbench -S through Warden, profiled)', figure: 'all of warden up, per transaction', unit: 'µs', warden: perTransaction(profile.cpuMs) });
for (const [part, ms] of Object.entries(profile.parts)) {
  figures.push({ section: 'Where the CPU goes (pgbench -S through Warden, profiled)', figure: part, unit: 'µs', warden: perTransaction(ms) });
}

for (const sessions of SESSIONS) {
  const run = await read<PostgresResults>(files.sessions(sessions));
  figures.push(...pgbenchFigures('How it scales: sessions', `, ${sessions} sessions`, run, false));
  const connect = (prefix: string) => run.results.find((r) => r.target.startsWith(prefix))!.connectMs;
  // Warden logs in upstream as a direct client does; pgbouncer hands out connections it already has.
  figures.push({ section: 'How it scales: sessions', figure: `connect ${sessions} sessions`, unit: 'ms', warden: connect('Warden'), baseline: { name: 'direct', value: connect('PostgreSQL direct') } });
  figures.push({ section: 'How it scales: sessions', figure: `connect ${sessions} sessions`, unit: 'ms', warden: connect('Warden'), baseline: { name: 'pgbouncer', value: connect('pgbouncer') } });
}
for (const size of LEDGER_SIZES) {
  const rows = (await read<RowsOf<LedgerRow>>(size === LEDGER_SIZES.at(-1) ? files.ledger : files.ledgerSize(size))).rows;
  const verify = rows.find((row) => row.measure.startsWith('verify'))!;
  figures.push({ section: 'How it scales: ledger size', figure: verify.measure, unit: verify.unit, warden: verify.value });
}
for (const row of latency.filter((r) => r.figure.startsWith('one query returning'))) {
  figures.push({ section: 'How it scales: result size', figure: row.figure, unit: row.unit, warden: row.warden, baseline: { name: 'direct', value: row.direct! } });
}

const number = (value: number) => (value >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(2));
let section = '';
console.log(`\nWarden benchmarks, every baseline from this run (node ${process.version}, ${new Date().toISOString()}${quick ? ', --quick' : ''})`);
for (const figure of figures) {
  if (figure.section !== section) {
    section = figure.section;
    console.log(`\n${section}`);
    console.log(`  ${'figure'.padEnd(58)}${'Warden'.padStart(12)}  ${'baseline'.padEnd(34)}${'ratio'.padStart(7)}  target`);
  }
  const baseline = figure.baseline ? `${number(figure.baseline.value)} (${figure.baseline.name})` : '';
  const ratio = figure.baseline && figure.baseline.value !== 0 ? (figure.warden / figure.baseline.value).toFixed(2) : '';
  const target = figure.target ? `${figure.target.text} ${figure.target.met ? '✔' : '✘'}` : '';
  console.log(`  ${figure.figure.padEnd(58)}${`${number(figure.warden)} ${figure.unit}`.padStart(12)}  ${baseline.padEnd(34)}${ratio.padStart(7)}  ${target}`);
}
await writeFile(new URL('./results.json', import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), quick, figures }, null, 2)}\n`);
console.log('\nwritten: bench/results.json');
