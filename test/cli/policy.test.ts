import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/warden.js';

describe('warden policy', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-policy-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('validates the shipped default set and a custom file, and names the problem in a bad one', async () => {
    const shipped = await runCli(['policy', 'validate', '--json']);
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.ok((JSON.parse(shipped.stdout) as { policies: string[] }).policies.includes('no-schema-changes'));
    const bad = join(dir, 'bad.cedar');
    await writeFile(bad, '@id("typo") forbid (principal, action, resource) when { context.tablesWriten.contains("x") };');
    const refused = await runCli(['policy', 'validate', '--file', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /does not match the Warden schema[\s\S]*typo/);
  });

  it('tests SQL and shell commands with the outcome as exit code: 0 allow, 1 deny, 4 approval', async () => {
    const cases: [string[], number, RegExp][] = [
      [['SELECT * FROM orders WHERE id = 1'], 0, /ALLOW/],
      [['DROP TABLE orders'], 1, /schema changes go through migrations/],
      [['UPDATE orders SET total = 0'], 4, /without WHERE/],
      [['SELECT pg_catalog.set_config($$role$$, $$postgres$$, false)'], 1, /changing role/],
      [['selec 1'], 1, /SQL does not parse/],
      [['--ssh', 'cat /var/log/app.log | grep ERROR'], 0, /ALLOW/],
      [['--ssh', "sudo sh -c 'id'"], 4, /second pair of eyes/],
      [['--ssh', 'echo "unterminated'], 1, /does not parse/],
    ];
    for (const [args, code, output] of cases) {
      const command = args.at(-1)!;
      const result = await runCli(['policy', 'test', '--as', 'alice', '--connection', 'app', ...args.slice(0, -1), command]);
      assert.equal(result.code, code, `${command}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, output, command);
    }
  });

  it('prints facts and deciding policies as JSON for scripts', async () => {
    const result = await runCli(['policy', 'test', '--as', 'alice', '--groups', 'eng', '--connection', 'app', '--json', 'WITH gone AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM gone']);
    const parsed = JSON.parse(result.stdout) as { outcome: string; statements: { decision: { policies: string[] }; facts: { actions: string[]; hiddenWrites: string[] } }[] };
    assert.equal(parsed.outcome, 'allow');
    assert.deepEqual(parsed.statements[0]!.facts.actions, ['sql:delete', 'sql:select']);
    assert.deepEqual(parsed.statements[0]!.facts.hiddenWrites, ['DELETE inside a CTE']);
    assert.deepEqual(parsed.statements[0]!.decision.policies, ['read-and-write-data']);
  });
});
