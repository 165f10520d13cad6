/**
 * Found by the no-leaks test: two ways a statement's literals reached the ledger (and the
 * exported bundle) as written.
 * - SQL that does not parse was refused with the parser's message, which quotes the token it
 *   stopped at, often a literal (`syntax error at or near "'GB33BUKB…'"`). It names the position.
 * - Utility statements kept their literals in the recorded text: the parser's normalize, which
 *   masks them elsewhere, leaves CREATE TABLE … AS, CREATE VIEW, ALTER … SET DEFAULT, COMMENT ON
 *   and PREPARE as written.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { sqlFacts, sqlParserReady } from '../../functions/lib/sql-facts.js';

before(async () => {
  await sqlParserReady();
});

describe('SQL that does not parse', () => {
  for (const [sql, literal, reason] of [
    ["SELECT 1 'GB33BUKB20201555555555'", 'GB33BUKB20201555555555', 'syntax error at character 10'],
    ['SELECT 1 4539148803436467', '4539148803436467', 'syntax error at character 10'],
    ["SELECT 'ok' $$219-09-9993$$", '219-09-9993', 'syntax error at character 13'],
    ["SELECT 'unterminated zelda.quistgaard@example.org", 'zelda.quistgaard@example.org', 'unterminated quoted string at character 8'],
  ] as const) {
    it(`is refused naming the position, not the text: ${reason}`, () => {
      const result = sqlFacts(sql);
      assert.ok(!result.ok, 'the statement is refused');
      assert.equal(result.error, `SQL does not parse: ${reason}`);
      assert.ok(!result.error.includes(literal), 'the literal is not quoted');
    });
  }
});

describe('the recorded text of a utility statement', () => {
  for (const [sql, masked] of [
    ["CREATE TABLE leak_copy AS SELECT '512-48-7306' AS ssn, 371482605193573 AS card", 'CREATE TABLE leak_copy AS SELECT $1 AS ssn, $2 AS card'],
    ["CREATE VIEW v AS SELECT 'zelda.quistgaard@example.org' AS email, B'101', X'ff', U&'\\0061'", 'CREATE VIEW v AS SELECT $1 AS email, $2, $3, $4'],
    ["ALTER TABLE customers ALTER COLUMN phone SET DEFAULT '+44 20 7946 0958'", 'ALTER TABLE customers ALTER COLUMN phone SET DEFAULT $1'],
    ["COMMENT ON TABLE customers IS 'ask 219-09-9993'", 'COMMENT ON TABLE customers IS $1'],
    ["PREPARE find AS SELECT id FROM customers WHERE email = $1 OR card = '4539 1488 0343 6467'", 'PREPARE find AS SELECT id FROM customers WHERE email = $1 OR card = $2'],
  ] as const) {
    it(`has its literals masked: ${masked}`, () => {
      const result = sqlFacts(sql);
      assert.ok(result.ok, 'the statement parses');
      assert.deepEqual(result.statements.map((statement) => statement.maskedText), [masked]);
    });
  }
});
