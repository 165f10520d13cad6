import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendParser, BufferWriter, buildDataRow, dataRowValues, decodeRowDescription, ProtocolError, serialize } from '../../../proxy-fleet/postgres/protocol/index.js';
import { BackendCode } from '../../../proxy-fleet/postgres/protocol/codes.js';
import { ResultTracker, type CommandOutcome } from '../../../proxy-fleet/postgres/result-tracker.js';

function rowDescription(columns: { name: string; tableOid: number; attnum: number; typeOid: number; format: number }[]): Buffer {
  const writer = new BufferWriter().addInt16(columns.length);
  for (const c of columns) writer.addCString(c.name).addInt32(c.tableOid).addInt16(c.attnum).addInt32(c.typeOid).addInt16(-1).addInt32(-1).addInt16(c.format);
  return writer.flush(BackendCode.rowDescription);
}
const message = (raw: Buffer) => new BackendParser().push(raw)[0]!;
const other = (code: number) => message(new BufferWriter().flush(code));
const commandComplete = () => message(new BufferWriter().addCString('SELECT 1').flush(BackendCode.commandComplete));

describe('RowDescription and DataRow', () => {
  it('decode, and rebuild a DataRow byte for byte', () => {
    const raw = rowDescription([{ name: 'email', tableOid: 16384, attnum: 2, typeOid: 25, format: 0 }, { name: 'n', tableOid: 0, attnum: 0, typeOid: 23, format: 1 }]);
    assert.deepEqual(decodeRowDescription(raw), [
      { name: 'email', tableOid: 16384, attributeNumber: 2, typeOid: 25, format: 0 },
      { name: 'n', tableOid: 0, attributeNumber: 0, typeOid: 23, format: 1 },
    ]);
    const row = buildDataRow([Buffer.from('a@b.c'), null, Buffer.alloc(0)]);
    assert.deepEqual(dataRowValues(row), [Buffer.from('a@b.c'), null, Buffer.alloc(0)]);
    assert.deepEqual(buildDataRow(dataRowValues(row)), row);
  });

  it('refuse malformed DataRows with a ProtocolError', () => {
    const negative = Buffer.from([0x44, 0, 0, 0, 6, 0xff, 0xff]);
    const truncated = buildDataRow([Buffer.from('abc')]).subarray(0, 10);
    const trailing = Buffer.concat([buildDataRow([null]), Buffer.from([1])]);
    for (const raw of [negative, truncated, trailing]) assert.throws(() => dataRowValues(raw), ProtocolError);
  });
});

describe('ResultTracker', () => {
  const shape = rowDescription([{ name: 'email', tableOid: 1, attnum: 1, typeOid: 25, format: 0 }]);

  it('gives an Execute the shape its portal was described with, and reports each command once', () => {
    const done: CommandOutcome[] = [];
    const tracker = new ResultTracker((outcome) => done.push(outcome));
    tracker.expect({ kind: 'parse' });
    tracker.bound('', 's1', [1]);
    tracker.expect({ kind: 'bind' });
    tracker.expect({ kind: 'describe-portal', portal: '' });
    tracker.expect({ kind: 'execute', portal: '', commandId: 7 });
    tracker.expect({ kind: 'sync' });
    for (const code of [BackendCode.parseComplete, BackendCode.bindComplete]) tracker.observe(other(code));
    tracker.observe(message(shape));
    assert.equal(tracker.currentShape()?.[0]?.typeOid, 25);
    tracker.observe(message(buildDataRow([Buffer.from('x')])));
    tracker.observe(message(buildDataRow([Buffer.from('y')])));
    tracker.observe(commandComplete());
    tracker.observe(message(serialize.readyForQuery('I')));
    assert.deepEqual(done, [{ commandId: 7, rows: 2 }]);
  });

  it('applies Bind result formats to a described statement, and skips to Sync after an error', () => {
    const done: CommandOutcome[] = [];
    const tracker = new ResultTracker((outcome) => done.push(outcome));
    tracker.expect({ kind: 'describe-statement', statement: 's' });
    tracker.observe(other(BackendCode.parameterDescription));
    tracker.observe(message(shape));
    tracker.bound('p', 's', [1]);
    tracker.expect({ kind: 'bind' });
    tracker.expect({ kind: 'execute', portal: 'p', commandId: 1 });
    tracker.expect({ kind: 'parse' });
    tracker.expect({ kind: 'sync' });
    tracker.observe(other(BackendCode.bindComplete));
    assert.equal(tracker.currentShape()?.[0]?.format, 1);
    tracker.observe(message(serialize.errorResponse({ severity: 'ERROR', code: '22012', message: 'division by zero' })));
    tracker.observe(message(serialize.readyForQuery('I')));
    assert.deepEqual(done, [{ commandId: 1, rows: 0, error: '22012' }]);
  });

  it('tracks shapes across the statements of one simple Query', () => {
    const done: CommandOutcome[] = [];
    const tracker = new ResultTracker((outcome) => done.push(outcome));
    tracker.expect({ kind: 'query', commandId: 3 });
    tracker.observe(message(shape));
    tracker.observe(message(buildDataRow([Buffer.from('x')])));
    tracker.observe(commandComplete());
    assert.equal(tracker.currentShape(), undefined);
    tracker.observe(message(shape));
    tracker.observe(message(buildDataRow([Buffer.from('y')])));
    tracker.observe(commandComplete());
    tracker.observe(message(serialize.readyForQuery('I')));
    assert.deepEqual(done, [{ commandId: 3, rows: 2 }]);
  });
});
