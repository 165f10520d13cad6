import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PolicyEngine, PolicyError, type PolicyRequest } from '../../../functions/lib/policy-engine.js';

const schema = readFileSync(new URL('../../../core/policy/warden.cedarschema', import.meta.url), 'utf8');
const defaults = readFileSync(new URL('../../../core/policy/default.cedar', import.meta.url), 'utf8');

const sqlContext = {
  statementType: 'SelectStmt',
  statementCount: 1,
  tablesRead: [] as string[],
  tablesWritten: [] as string[],
  hasWhere: true,
  functions: [] as string[],
  hiddenWrites: [] as string[],
  copyProgram: false,
  changesRole: false,
  changesSettings: [] as string[],
  dynamicSql: false,
};

function sql(action: string, context: Partial<typeof sqlContext> = {}, groups: string[] = ['engineering'], act: { sub: string }[] = []): PolicyRequest {
  return { identity: { sub: 'alice', groups, chain: 'c1', act }, action, resource: { type: 'Connection', id: 'app' }, context: { ...sqlContext, ...context } };
}

describe('PolicyEngine', () => {
  const engine = PolicyEngine.load(defaults, schema);

  it('loads the shipped default policy set against the shipped schema', () => {
    assert.ok(engine.policyIds.includes('no-schema-changes'));
    assert.match(engine.version, /^[0-9a-f]{12}$/);
  });

  it('allows, denies and holds for approval, naming the deciding policies', () => {
    assert.deepEqual(pick(engine.decide(sql('sql:select'))), ['allow', ['read-and-write-data']]);
    const ddl = engine.decide(sql('sql:ddl', { statementType: 'DropStmt' }));
    assert.deepEqual(pick(ddl), ['deny', ['no-schema-changes']]);
    assert.match(ddl.reason, /schema changes go through migrations/);
    const deleteAll = engine.decide(sql('sql:delete', { statementType: 'DeleteStmt', hasWhere: false }));
    assert.deepEqual(pick(deleteAll), ['approval', ['no-delete-all']]);
    assert.match(deleteAll.reason, /without WHERE/);
  });

  it('denies an approval-annotated forbid when another forbid also matches, or nothing permits', () => {
    // DELETE without WHERE that also changes role: the plain forbid wins.
    assert.deepEqual(pick(engine.decide(sql('sql:delete', { hasWhere: false, changesRole: true }))), ['deny', ['no-delete-all', 'no-role-change']]);
    const restrictive = PolicyEngine.load('@id("approve-everything")\n@approval("always ask")\nforbid (principal, action, resource);', schema);
    assert.equal(restrictive.decide(sql('sql:select')).outcome, 'deny', 'an approval needs a permit behind it');
  });

  it('decides on groups and on the acting agent', () => {
    const policy = `@id("dba-ddl") permit (principal in Warden::Group::"dba", action == Warden::Action::"sql:ddl", resource);
@id("agents-read-only") forbid (principal is Warden::Agent, action, resource) unless { action == Warden::Action::"sql:select" };
@id("reads") permit (principal, action, resource);`;
    const byGroup = PolicyEngine.load(policy, schema);
    assert.equal(byGroup.decide(sql('sql:ddl', {}, ['dba'])).outcome, 'allow');
    assert.equal(byGroup.decide(sql('sql:insert', {}, ['dba'], [{ sub: 'planner-agent' }])).outcome, 'deny');
    assert.equal(byGroup.decide(sql('sql:select', {}, ['dba'], [{ sub: 'planner-agent' }])).outcome, 'allow');
  });

  it('fails closed when a policy errors at evaluation time', () => {
    const overflow = PolicyEngine.load(
      `@id("all") permit (principal, action, resource);
@id("overflow") forbid (principal, action, resource) when { context has statementCount && context.statementCount * 9223372036854775807 > 1 };`,
      schema,
    );
    const decision = overflow.decide(sql('sql:select', { statementCount: 2 }));
    assert.equal(decision.outcome, 'deny');
    assert.match(decision.reason, /overflow failed to evaluate/);
  });

  it('refuses policy sets that do not parse or do not match the schema, naming the problem', () => {
    assert.throws(() => PolicyEngine.load('permit (principal, action, resource', schema), (error: PolicyError) => error.message.includes('does not parse'));
    assert.throws(
      () => PolicyEngine.load('@id("typo") forbid (principal, action, resource) when { context.tablesWriten.contains("x") };', schema),
      (error: PolicyError) => /does not match the Warden schema/.test(error.message) && /typo/.test(error.message),
    );
    assert.throws(() => PolicyEngine.load('@id("a") permit (principal, action, resource);\n@id("a") permit (principal, action, resource);', schema), /two policies have the id "a"/);
  });
});

function pick(decision: { outcome: string; policies: readonly string[] }): [string, string[]] {
  return [decision.outcome, [...decision.policies].sort()];
}
