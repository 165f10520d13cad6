import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import {
  newSessionSqlState,
  sqlFacts,
  sqlParserReady,
  type SqlAction,
  type SqlStatementFacts,
} from '../../../functions/lib/sql-facts.js';

// ---------------------------------------------------------------------------------------------
// The bypass corpus: every entry is run and every expectation checked.
// ---------------------------------------------------------------------------------------------

interface Expect {
  statements?: number;
  statementTypes?: string[];
  action?: SqlAction;
  actionsInclude?: SqlAction[];
  actionsExclude?: SqlAction[];
  tablesReadInclude?: string[];
  tablesReadExclude?: string[];
  tablesWrittenInclude?: string[];
  tablesWrittenExclude?: string[];
  functionsInclude?: string[];
  hiddenWritesInclude?: string[];
  changesSettingsInclude?: string[];
  hasWhere?: boolean | null;
  changesRole?: boolean;
  copyProgram?: boolean;
  dynamicSql?: boolean;
  parseError?: true;
}

interface CorpusEntry {
  name: string;
  /** Run first, in the same session (PREPARE … then EXECUTE …). */
  setup?: string[];
  sql: string;
  expect: Expect;
}

const listKeys = {
  actionsInclude: ['actions', true],
  actionsExclude: ['actions', false],
  tablesReadInclude: ['tablesRead', true],
  tablesReadExclude: ['tablesRead', false],
  tablesWrittenInclude: ['tablesWritten', true],
  tablesWrittenExclude: ['tablesWritten', false],
  functionsInclude: ['functions', true],
  hiddenWritesInclude: ['hiddenWrites', true],
  changesSettingsInclude: ['changesSettings', true],
} as const;
type ListKey = keyof typeof listKeys;
const booleanKeys = ['changesRole', 'copyProgram', 'dynamicSql'] as const;
const knownKeys = new Set<string>([...Object.keys(listKeys), ...booleanKeys, 'statements', 'statementTypes', 'action', 'hasWhere', 'parseError']);
const allActions: SqlAction[] = ['sql:select', 'sql:insert', 'sql:update', 'sql:delete', 'sql:copy', 'sql:call', 'sql:ddl', 'sql:admin'];

/** The facts of a whole query string: what a gateway must decide on (any statement can be the bad one). */
interface Aggregate {
  statements: number;
  statementTypes: string[];
  action: SqlAction;
  actions: string[];
  tablesRead: string[];
  tablesWritten: string[];
  functions: string[];
  hiddenWrites: string[];
  changesSettings: string[];
  hasWhere: boolean | null;
  changesRole: boolean;
  copyProgram: boolean;
  dynamicSql: boolean;
}

type Outcome = { parseError: true; error: string } | { parseError: false; facts: Aggregate };

function aggregate(list: SqlStatementFacts[]): Aggregate {
  const union = (pick: (f: SqlStatementFacts) => string[]) => [...new Set(list.flatMap(pick))].sort();
  const wheres = list.map((f) => f.hasWhere).filter((w): w is boolean => w !== null);
  return {
    statements: list.length,
    statementTypes: list.map((f) => f.statementType),
    action: list.map((f) => f.action).reduce((a, b) => (allActions.indexOf(b) > allActions.indexOf(a) ? b : a)),
    actions: union((f) => f.actions),
    tablesRead: union((f) => f.tablesRead),
    tablesWritten: union((f) => f.tablesWritten),
    functions: union((f) => f.functions),
    hiddenWrites: union((f) => f.hiddenWrites),
    changesSettings: union((f) => f.changesSettings),
    hasWhere: wheres.length === 0 ? null : wheres.every(Boolean),
    changesRole: list.some((f) => f.changesRole),
    copyProgram: list.some((f) => f.copyProgram),
    dynamicSql: list.some((f) => f.dynamicSql),
  };
}

function runEntry(entry: CorpusEntry): Outcome {
  const state = newSessionSqlState();
  for (const setup of entry.setup ?? []) {
    const result = sqlFacts(setup, state);
    assert.ok(result.ok, `setup of "${entry.name}" must parse: ${setup}`);
  }
  const result = sqlFacts(entry.sql, state);
  if (!result.ok) return { parseError: true, error: result.error };
  return { parseError: false, facts: aggregate(result.statements.map((s) => s.facts)) };
}

/** Every mismatch between an entry's expectations and an outcome (empty: all hold). */
function mismatches(expect: Expect, outcome: Outcome): string[] {
  const problems: string[] = [];
  if (outcome.parseError) {
    if (expect.parseError !== true) problems.push(`unexpected parse error: ${outcome.error}`);
    return problems;
  }
  if (expect.parseError === true) return ['expected a parse error, but the SQL parsed'];
  const facts = outcome.facts;
  if (expect.statements !== undefined && facts.statements !== expect.statements) {
    problems.push(`statements: expected ${expect.statements}, got ${facts.statements}`);
  }
  if (expect.statementTypes !== undefined && facts.statementTypes.join(',') !== expect.statementTypes.join(',')) {
    problems.push(`statementTypes: expected ${expect.statementTypes.join(',')}, got ${facts.statementTypes.join(',')}`);
  }
  if (expect.action !== undefined && facts.action !== expect.action) {
    problems.push(`action: expected ${expect.action}, got ${facts.action}`);
  }
  for (const key of Object.keys(listKeys) as ListKey[]) {
    const wanted = expect[key];
    if (wanted === undefined) continue;
    const [field, include] = listKeys[key];
    const actual = facts[field];
    for (const item of wanted) {
      if (actual.includes(item) !== include) problems.push(`${field}: ${include ? 'missing' : 'unexpected'} ${item} in [${actual.join(', ')}]`);
    }
  }
  if (expect.hasWhere !== undefined && facts.hasWhere !== expect.hasWhere) {
    problems.push(`hasWhere: expected ${expect.hasWhere}, got ${facts.hasWhere}`);
  }
  for (const key of booleanKeys) {
    if (expect[key] !== undefined && facts[key] !== expect[key]) problems.push(`${key}: expected ${expect[key]}, got ${facts[key]}`);
  }
  return problems;
}

/** For one expectation key, an outcome that violates it: proves the key is really checked. */
function violate(key: string, expect: Expect, outcome: Outcome): Outcome {
  if (key === 'parseError') {
    return { parseError: false, facts: aggregate([new EmptyFacts()]) };
  }
  assert.ok(!outcome.parseError, 'only parseError entries may fail to parse');
  const facts: Aggregate = structuredClone(outcome.facts);
  if (key in listKeys) {
    const [field, include] = listKeys[key as ListKey];
    const item = expect[key as ListKey]![0]!;
    facts[field] = include ? facts[field].filter((x) => x !== item) : [...facts[field], item];
  } else if (key === 'action') {
    facts.action = facts.action === 'sql:admin' ? 'sql:select' : 'sql:admin';
  } else if (key === 'statements') {
    facts.statements += 1;
  } else if (key === 'statementTypes') {
    facts.statementTypes = ['NotAStatement', ...facts.statementTypes.slice(1)];
  } else if (key === 'hasWhere') {
    facts.hasWhere = facts.hasWhere === true ? false : true;
  } else if ((booleanKeys as readonly string[]).includes(key)) {
    const flag = key as (typeof booleanKeys)[number];
    facts[flag] = !facts[flag];
  } else {
    assert.fail(`no violation defined for ${key}`);
  }
  return { parseError: false, facts };
}

class EmptyFacts implements SqlStatementFacts {
  statementType = 'SelectStmt';
  action: SqlAction = 'sql:select';
  actions: SqlAction[] = ['sql:select'];
  tablesRead: string[] = [];
  tablesWritten: string[] = [];
  hasWhere: boolean | null = null;
  functions: string[] = [];
  hiddenWrites: string[] = [];
  copyProgram = false;
  changesRole = false;
  changesSettings: string[] = [];
  dynamicSql = false;
}

const corpus = JSON.parse(readFileSync(new URL('../../fixtures/sql-bypass-corpus.json', import.meta.url), 'utf8')) as CorpusEntry[];

describe('sqlFacts: bypass corpus', () => {
  before(() => sqlParserReady());

  it('is well formed: at least 45 named entries, every expectation key known, none empty', () => {
    assert.ok(corpus.length >= 45, `only ${corpus.length} entries`);
    assert.equal(new Set(corpus.map((e) => e.name)).size, corpus.length, 'names are unique');
    for (const entry of corpus) {
      const keys = Object.keys(entry.expect);
      assert.ok(keys.length > 0, `${entry.name}: no expectations`);
      for (const key of keys) assert.ok(knownKeys.has(key), `${entry.name}: unknown expectation ${key}`);
      if (entry.expect.parseError) assert.deepEqual(keys, ['parseError'], `${entry.name}: a parse error has no facts to expect`);
      for (const action of [entry.expect.action, ...(entry.expect.actionsInclude ?? []), ...(entry.expect.actionsExclude ?? [])]) {
        if (action !== undefined) assert.ok(allActions.includes(action), `${entry.name}: unknown action ${action}`);
      }
    }
  });

  for (const entry of corpus) {
    it(entry.name, () => {
      assert.deepEqual(mismatches(entry.expect, runEntry(entry)), [], `${entry.name}\n  ${entry.sql}`);
    });
  }

  it('every expectation of every entry fails when the facts are wrong', () => {
    for (const entry of corpus) {
      const outcome = runEntry(entry);
      for (const key of Object.keys(entry.expect)) {
        const problems = mismatches(entry.expect, violate(key, entry.expect, outcome));
        assert.ok(problems.length > 0, `${entry.name}: expectation ${key} cannot fail`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Focused unit tests
// ---------------------------------------------------------------------------------------------

function facts(sql: string, state = newSessionSqlState()): SqlStatementFacts[] {
  const result = sqlFacts(sql, state);
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.statements.map((s) => s.facts);
}

function only(sql: string, state = newSessionSqlState()): SqlStatementFacts {
  const list = facts(sql, state);
  assert.equal(list.length, 1, sql);
  return list[0]!;
}

describe('sqlFacts', () => {
  before(() => sqlParserReady());

  it('gives the complete facts of a simple SELECT', () => {
    assert.deepEqual(only('SELECT a, lower(b) FROM t WHERE id = 1'), {
      statementType: 'SelectStmt',
      action: 'sql:select',
      actions: ['sql:select'],
      tablesRead: ['t'],
      tablesWritten: [],
      hasWhere: null,
      functions: ['lower'],
      hiddenWrites: [],
      copyProgram: false,
      changesRole: false,
      changesSettings: [],
      dynamicSql: false,
    });
  });

  it('splits and masks statements as analyzeSql does', () => {
    const result = sqlFacts("SELECT 'a;b' AS x; -- comment\n DELETE FROM t WHERE id = 1 ;SELECT 'é' FROM people WHERE ssn = '900-12-3456'");
    assert.ok(result.ok);
    assert.deepEqual(
      result.statements.map((s) => [s.facts.statementType, s.text, s.maskedText]),
      [
        ['SelectStmt', "SELECT 'a;b' AS x", 'SELECT $1 AS x'],
        ['DeleteStmt', 'DELETE FROM t WHERE id = 1', 'DELETE FROM t WHERE id = $1'],
        ['SelectStmt', "SELECT 'é' FROM people WHERE ssn = '900-12-3456'", 'SELECT $1 FROM people WHERE ssn = $2'],
      ],
    );
  });

  it('reports an empty string or a lone comment as one empty, harmless statement', () => {
    for (const sql of ['', '   ', '-- nothing']) {
      const result = sqlFacts(sql);
      assert.ok(result.ok, sql);
      assert.equal(result.statements.length, 1);
      assert.equal(result.statements[0]!.facts.statementType, 'EmptyQuery');
      assert.equal(result.statements[0]!.facts.action, 'sql:select');
    }
  });

  it('maps a statement to the most privileged thing it does', () => {
    assert.equal(only('WITH d AS (DELETE FROM t RETURNING 1) SELECT 1').action, 'sql:delete');
    assert.equal(only('WITH u AS (UPDATE t SET a = 1 RETURNING 1) INSERT INTO l SELECT * FROM u').action, 'sql:update');
    assert.equal(only('COPY t FROM STDIN').action, 'sql:copy');
    assert.equal(only('DO $$ BEGIN DELETE FROM t; END $$').action, 'sql:call');
    assert.equal(only('DO $$ BEGIN CREATE TABLE x (a int); END $$').action, 'sql:ddl');
    assert.equal(only("SELECT pg_read_file('x'), nextval('s')").action, 'sql:admin');
    assert.equal(only('CREATE INDEX ON t (a)').action, 'sql:ddl');
    assert.equal(only('REINDEX TABLE t').action, 'sql:admin');
    assert.equal(only("LOAD 'evil'").action, 'sql:admin');
  });

  it('returns sorted, unique lists', () => {
    const f = only('SELECT f(1), a.g(2), f(3) FROM z JOIN b ON true JOIN z AS z2 ON true JOIN a ON true');
    assert.deepEqual(f.functions, ['a.g', 'f']);
    assert.deepEqual(f.tablesRead, ['a', 'b', 'z']);
    assert.deepEqual(only('WITH x AS (DELETE FROM t), y AS (INSERT INTO t VALUES (1)) SELECT 1 FROM u, u AS u2').actions, [
      'sql:delete',
      'sql:insert',
      'sql:select',
    ]);
  });

  it('hasWhere is false when any UPDATE/DELETE it performs lacks a WHERE, null when it performs none', () => {
    assert.equal(only('SELECT * FROM t').hasWhere, null);
    assert.equal(only('INSERT INTO t VALUES (1)').hasWhere, null);
    assert.equal(only('DELETE FROM t WHERE a = 1').hasWhere, true);
    assert.equal(only('WITH d AS (DELETE FROM t) UPDATE u SET a = 1 WHERE id = 2').hasWhere, false);
    assert.equal(only('WITH d AS (DELETE FROM t WHERE a = 1) UPDATE u SET a = 1 WHERE id = 2').hasWhere, true);
  });

  it('finds functions in CTEs, subqueries, DEFAULTs, FROM and window clauses', () => {
    assert.deepEqual(only('WITH c AS (SELECT cte_fn()) SELECT * FROM c WHERE x IN (SELECT sub_fn())').functions, ['cte_fn', 'sub_fn']);
    assert.deepEqual(only("CREATE TABLE t (id int DEFAULT default_fn(), b text DEFAULT lower('X'))").functions, ['default_fn', 'lower']);
    assert.deepEqual(only('SELECT row_number() OVER (ORDER BY sort_fn(a)) FROM srf(1)').functions, ['row_number', 'sort_fn', 'srf']);
  });

  it('does not treat a CTE name as a table, but does outside its scope', () => {
    assert.deepEqual(only('WITH t AS (SELECT 1) SELECT * FROM t, (SELECT * FROM t) s').tablesRead, []);
    assert.deepEqual(only('SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) s, t').tablesRead, ['t']);
    // A schema-qualified name is never a CTE.
    assert.deepEqual(only('WITH t AS (SELECT 1) SELECT * FROM public.t').tablesRead, ['public.t']);
    // Non-recursive: a CTE sees only earlier CTEs, so b here is a table.
    assert.deepEqual(only('WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b').tablesRead, ['b']);
  });

  it('reads the target of a DML statement with RETURNING', () => {
    assert.deepEqual(only('DELETE FROM t WHERE id = 1 RETURNING *').tablesRead, ['t']);
    assert.deepEqual(only('DELETE FROM t WHERE id = 1').tablesRead, []);
  });

  it('remembers PREPARE per session, only when the whole string is analyzed', () => {
    const session = newSessionSqlState();
    const other = newSessionSqlState();
    only('PREPARE p AS DELETE FROM t', session);
    assert.deepEqual([...session.preparedStatements.keys()], ['p']);
    assert.equal(only('EXECUTE p', session).action, 'sql:delete');
    assert.equal(only('EXECUTE p', other).action, 'sql:admin', 'another session does not share prepared statements');
    assert.equal(sqlFacts('PREPARE q AS SELECT 1; SELEC', session).ok, false);
    assert.ok(!session.preparedStatements.has('q'), 'a string that does not parse changes nothing');
    // Without a state, PREPARE then EXECUTE in one string still connects.
    assert.equal(facts('PREPARE r AS UPDATE t SET a = 1; EXECUTE r')[1]!.action, 'sql:update');
    only('DEALLOCATE ALL', session);
    assert.equal(session.preparedStatements.size, 0);
    only('PREPARE p AS SELECT 1', session);
    only('DISCARD ALL', session);
    assert.equal(session.preparedStatements.size, 0);
  });

  it('analyzes a DO body statement by statement, and only as dynamic when it must', () => {
    const f = only(`DO $do$
      DECLARE n int; arr int[];
      BEGIN
        arr[(SELECT count(*) FROM idx_src)] := 1;
        n := max(id) FROM assign_src WHERE true;
        IF n > (SELECT count(*) FROM cond_src) THEN PERFORM set_config('search_path', 'x', true); END IF;
        WHILE n < 3 LOOP n := n + 1; END LOOP;
        CALL proc(1);
      END $do$`);
    assert.deepEqual(f.tablesRead, ['assign_src', 'cond_src', 'idx_src']);
    assert.deepEqual(f.changesSettings, ['search_path']);
    assert.ok(f.actions.includes('sql:call'));
    assert.ok(f.functions.includes('proc'));
    assert.equal(f.dynamicSql, false);
    assert.deepEqual(f.hiddenWrites, []);
    assert.equal(only("DO $$ DECLARE c refcursor; BEGIN OPEN c FOR EXECUTE 'SELECT 1'; END $$").dynamicSql, true);
  });

  it('cannot be escaped by a DO body that closes the wrapper used to parse it', () => {
    for (const body of ['BEGIN END; $warden$; DROP TABLE t; SELECT $warden$', 'BEGIN END; $warden', 'BEGIN DELETE FROM t; END $warden_$ x']) {
      const f = only(`DO $outer$${body}$outer$`);
      assert.ok(f.dynamicSql || f.tablesWritten.includes('t'), body);
    }
    // An ordinary body that happens to contain $warden in a string still analyzes.
    const f = only("DO $$ BEGIN DELETE FROM t WHERE note = '$warden$'; END $$");
    assert.deepEqual(f.tablesWritten, ['t']);
    assert.equal(f.dynamicSql, false);
  });

  it('EXPLAIN takes its inner statement: all of it with ANALYZE, its tables as reads without', () => {
    const analyzed = only('EXPLAIN (ANALYZE true) WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d');
    assert.deepEqual([analyzed.action, analyzed.tablesWritten], ['sql:delete', ['t']]);
    const planned = only('EXPLAIN (ANALYZE off) UPDATE t SET a = f(1) FROM u');
    assert.deepEqual([planned.action, planned.tablesRead, planned.tablesWritten, planned.functions], ['sql:select', ['t', 'u'], [], ['f']]);
  });

  it('reports settings of SET TRANSACTION and set_config, lower-cased', () => {
    assert.deepEqual(only('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE').changesSettings, [
      'transaction_isolation',
      'transaction_read_only',
    ]);
    assert.deepEqual(only("SELECT set_config(setting_name => 'ROLE', new_value => 'x', is_local => false)").changesSettings, ['role']);
    assert.equal(only("SELECT set_config('Session_Authorization'::text, 'x', false)").changesRole, true);
    assert.equal(only('SET session_replication_role = replica').changesRole, false);
  });

  it('reads sequence names as PostgreSQL does', () => {
    assert.deepEqual(only(`SELECT nextval('Public."Order Seq"'), setval('S2', 1)`).tablesWritten, ['public.Order Seq', 's2']);
  });

  it('refuses, rather than throws, on a tree too deep to walk', () => {
    const result = sqlFacts(`SELECT ${Array.from({ length: 6000 }, () => '1').join('+')}`);
    assert.equal(result.ok, false);
  });

  it('measures the p50 of sqlFacts for a simple SELECT', () => {
    const sql = 'SELECT a, b FROM t WHERE id = 1';
    for (let i = 0; i < 200; i++) sqlFacts(sql);
    const samples: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = process.hrtime.bigint();
      sqlFacts(sql);
      samples.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    samples.sort((a, b) => a - b);
    const p50 = samples[Math.floor(samples.length / 2)]!;
    const p99 = samples[Math.floor(samples.length * 0.99)]!;
    console.log(`sqlFacts p50 ${p50.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs over ${samples.length} calls (${sql})`);
    assert.equal(samples.length, 2000);
  });
});
