/**
 * Decision latency per statement, parse included: SQL facts from libpg-query, then Cedar,
 * on the shipped default policy set. Decisions are memoized per policy set, so repeated
 * statement shapes hit the cache; the last row shows a first decision. Target: p50 ≤ 100 µs.
 * Run: npm run bench:policy
 */
import { writeFile } from 'node:fs/promises';
import { loadPolicyFile } from '../functions/lib/policy-files.js';
import { decideShell } from '../functions/lib/shell-decision.js';
import { decideSql } from '../functions/lib/sql-decision.js';
import { sqlParserReady } from '../functions/lib/sql-facts.js';

const engine = await loadPolicyFile(undefined);
await sqlParserReady();
const identity = { sub: 'alice@example.com', groups: ['engineering', 'oncall'], chain: 'bench', act: [{ sub: 'planner-agent' }] };
const samples: Record<string, () => unknown> = {
  'SELECT by key': () => decideSql(engine, identity, 'app', 'SELECT abalance FROM pgbench_accounts WHERE aid = 4711'),
  'join with literals': () => decideSql(engine, identity, 'app', "SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.placed_at > '2026-01-01' ORDER BY o.id LIMIT 50"),
  'UPDATE with WHERE': () => decideSql(engine, identity, 'app', "UPDATE orders SET status = 'shipped' WHERE id = 42"),
  'CTE hiding a DELETE': () => decideSql(engine, identity, 'app', 'WITH gone AS (DELETE FROM sessions WHERE expires < now() RETURNING id) SELECT count(*) FROM gone'),
  'ssh exec pipeline': () => decideShell(engine, { identity, action: 'ssh:exec', resource: { type: 'Host', id: 'web1' } }, 'ls -la /var/log | grep error && tail -n 50 app.log'),
  // A new identity every time defeats the decision cache: the cost of a first decision.
  'SELECT, uncached': () => decideSql(engine, { ...identity, sub: `user-${uncached++}` }, 'app', 'SELECT abalance FROM pgbench_accounts WHERE aid = 4711'),
};
let uncached = 0;

const ROUNDS = 5_000;
const rows: { sample: string; p50: number; p99: number }[] = [];
for (const [sample, decide] of Object.entries(samples)) {
  for (let i = 0; i < 500; i += 1) decide();
  const times = new Float64Array(ROUNDS);
  for (let i = 0; i < ROUNDS; i += 1) {
    const started = performance.now();
    decide();
    times[i] = (performance.now() - started) * 1000;
  }
  times.sort();
  rows.push({ sample, p50: times[Math.floor(ROUNDS * 0.5)]!, p99: times[Math.floor(ROUNDS * 0.99)]! });
}
console.log(`decision latency, parse included, ${ROUNDS} decisions each (node ${process.version}, ${new Date().toISOString()})`);
console.log(`${'statement'.padEnd(24)}${'p50 µs'.padStart(10)}${'p99 µs'.padStart(10)}   target p50 ≤ 100 µs`);
for (const row of rows) console.log(`${row.sample.padEnd(24)}${row.p50.toFixed(1).padStart(10)}${row.p99.toFixed(1).padStart(10)}`);
await writeFile(new URL('./results-policy.json', import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), rows }, null, 2)}\n`);
