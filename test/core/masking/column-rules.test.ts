import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findColumnRule, type ColumnRule } from '../../../core/masking/column-rules.js';

const rules: ColumnRule[] = [
  { id: 'emails', table: 'customers', column: 'email' },
  { id: 'billing-ssn', schema: 'billing', table: 'customers', column: 'ssn' },
  { id: 'all-ssn', schema: 'public', table: 'customers', column: 'ssn' },
];

describe('findColumnRule', () => {
  it('matches a rule without a schema in public only', () => {
    assert.equal(findColumnRule(rules, { schema: 'public', table: 'customers', column: 'email' })?.id, 'emails');
    assert.equal(findColumnRule(rules, { schema: 'billing', table: 'customers', column: 'email' }), undefined);
  });

  it('matches a schema-qualified rule in its schema', () => {
    assert.equal(findColumnRule(rules, { schema: 'billing', table: 'customers', column: 'ssn' })?.id, 'billing-ssn');
    assert.equal(findColumnRule(rules, { schema: 'public', table: 'customers', column: 'ssn' })?.id, 'all-ssn');
  });

  it('needs the table and the column to match, exactly', () => {
    assert.equal(findColumnRule(rules, { schema: 'public', table: 'orders', column: 'email' }), undefined);
    assert.equal(findColumnRule(rules, { schema: 'public', table: 'customers', column: 'name' }), undefined);
    assert.equal(findColumnRule(rules, { schema: 'public', table: 'Customers', column: 'email' }), undefined);
    assert.equal(findColumnRule([], { schema: 'public', table: 'customers', column: 'email' }), undefined);
  });
});
