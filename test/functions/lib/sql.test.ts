import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { evaluateDenyList } from '../../../core/policy/deny-list.js';
import { formatTable } from '../../../core/policy/sql-facts.js';
import { analyzeSql, sqlParserReady } from '../../../functions/lib/sql.js';

const rules = [
  { id: 'no-drop', statements: ['DropStmt', 'TruncateStmt'], reason: 'no schema changes' },
  { id: 'no-secrets', tables: ['secrets'], reason: 'off limits' },
  { id: 'no-billing-ledger', tables: ['billing.ledger'], reason: 'billing only' },
];

function statements(sql: string) {
  const analysis = analyzeSql(sql);
  assert.ok(analysis.ok, analysis.ok ? '' : analysis.error);
  return analysis.statements;
}

function decide(sql: string) {
  return statements(sql).map((s) => evaluateDenyList(rules, s.facts).decision);
}

describe('analyzeSql', () => {
  before(() => sqlParserReady());

  it('splits a query string into statements with their own text', () => {
    const list = statements("SELECT 'a;b' AS x; -- comment\n DELETE FROM t WHERE id = 1 ;SELECT 'é'");
    assert.deepEqual(
      list.map((s) => [s.facts.statementType, s.text]),
      [
        ['SelectStmt', "SELECT 'a;b' AS x"],
        ['DeleteStmt', 'DELETE FROM t WHERE id = 1'],
        ['SelectStmt', "SELECT 'é'"],
      ],
    );
  });

  it('masks every literal in the recorded text', () => {
    const [statement] = statements("SELECT * FROM people WHERE ssn = '900-12-3456' AND age > 40 AND name = $$O'Brien$$");
    assert.equal(statement!.maskedText, 'SELECT * FROM people WHERE ssn = $1 AND age > $2 AND name = $3');
  });

  it('finds tables anywhere in the tree: CTEs, subqueries, joins, DROP and TRUNCATE lists', () => {
    const tables = (sql: string) => statements(sql)[0]!.facts.tables.map(formatTable).sort();
    assert.deepEqual(tables('WITH gone AS (DELETE FROM secrets RETURNING *) SELECT * FROM gone'), ['gone', 'secrets']);
    assert.deepEqual(tables('SELECT * FROM a JOIN s.b ON true WHERE EXISTS (SELECT 1 FROM c)'), ['a', 'c', 's.b']);
    assert.deepEqual(tables('DROP TABLE x, public.y'), ['public.y', 'x']);
    assert.deepEqual(tables('TRUNCATE a, s.b'), ['a', 's.b']);
  });

  it('is not fooled by case, quoting, comments or whitespace', () => {
    for (const sql of [
      'DELETE FROM secrets',
      "UPDATE secrets SET value = 'x'",
      "INSERT INTO secrets VALUES (1, 'x')",
      'COPY secrets TO STDOUT',
      'select * from SECRETS', 'SELECT/**/*/**/FROM/**/"secrets"', 'select * from public.secrets', 'SELECT (SELECT value FROM secrets LIMIT 1)',
    ]) {
      assert.deepEqual(decide(sql), ['deny'], sql);
    }
    assert.deepEqual(decide('select * from "Secrets"'), ['allow'], 'a quoted mixed-case name is a different table');
    assert.deepEqual(decide('sElEcT 1; /* drop table x */ select 2'), ['allow', 'allow']);
    assert.deepEqual(decide('drop   TABLE  IF EXISTS x'), ['deny']);
  });

  it('matches schema-qualified rules only in that schema', () => {
    assert.deepEqual(decide('SELECT * FROM billing.ledger'), ['deny']);
    assert.deepEqual(decide('SELECT * FROM ledger'), ['allow']);
    assert.deepEqual(decide('SELECT * FROM audit.ledger'), ['allow']);
  });

  it('reports SQL that does not parse, with the parser message', () => {
    const analysis = analyzeSql('SELEC * FROM t');
    assert.equal(analysis.ok, false);
    assert.match(analysis.ok ? '' : analysis.error, /SQL does not parse: syntax error at or near "SELEC"/);
  });

  it('treats an empty query as one empty statement', () => {
    for (const sql of ['', '  ', ';;', '-- nothing']) {
      assert.deepEqual(statements(sql).map((s) => s.facts.statementType), ['EmptyQuery'], JSON.stringify(sql));
    }
  });
});
