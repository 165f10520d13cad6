import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseSequencer } from '../../../proxy-fleet/postgres/response-sequencer.js';
import { BackendParser, serialize } from '../../../proxy-fleet/postgres/protocol/index.js';

/** Server messages built with the serializer, parsed back as the proxy would see them. */
function fromServer(...chunks: Buffer[]) {
  return new BackendParser().push(Buffer.concat(chunks));
}
const other = (label: string) => serialize.noticeResponse({ severity: 'NOTICE', code: '00000', message: label });
const label = (chunk: Buffer) => {
  const [message] = new BackendParser().push(chunk);
  if (message?.name === 'readyForQuery') return `Z${message.status}`;
  if (message?.name === 'errorResponse') return `E:${message.fields.M}`;
  if (message?.name === 'noticeResponse') return message.fields.M!;
  return message?.name ?? '?';
};

function harness() {
  const written: string[] = [];
  const sequencer = new ResponseSequencer((chunk) => written.push(label(chunk)));
  return { sequencer, written };
}

describe('ResponseSequencer', () => {
  it('writes a synthetic answer at once when nothing is outstanding', () => {
    const { sequencer, written } = harness();
    sequencer.synthetic((status) => [serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'no' }), serialize.readyForQuery(status)]);
    assert.deepEqual(written, ['E:no', 'ZI']);
  });

  it('holds a synthetic answer until the server has answered every earlier message', () => {
    const { sequencer, written } = harness();
    sequencer.forwarded(true); // Query 1
    sequencer.synthetic((status) => [serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'denied 2' }), serialize.readyForQuery(status)]);
    sequencer.forwarded(true); // Query 3
    assert.deepEqual(written, []);
    for (const message of fromServer(other('rows 1'), serialize.readyForQuery('T'))) sequencer.fromServer(message);
    assert.deepEqual(written, ['rows 1', 'ZT', 'E:denied 2', 'ZT']);
    for (const message of fromServer(other('rows 3'), serialize.readyForQuery('I'))) sequencer.fromServer(message);
    assert.deepEqual(written, ['rows 1', 'ZT', 'E:denied 2', 'ZT', 'rows 3', 'ZI']);
  });

  it('hides the ReadyForQuery of a Sync the proxy injected, and reports the status at write time', () => {
    const { sequencer, written } = harness();
    sequencer.forwarded(false); // Parse
    sequencer.forwarded(false); // Execute
    assert.equal(sequencer.hasOpenServerCycle, true);
    sequencer.forwarded(true, true); // injected Sync
    assert.equal(sequencer.hasOpenServerCycle, false);
    sequencer.synthetic(() => [serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'denied' })]);
    sequencer.synthetic((status) => [serialize.readyForQuery(status)]); // the client's own Sync
    for (const message of fromServer(other('parse+execute'), serialize.readyForQuery('T'))) sequencer.fromServer(message);
    assert.deepEqual(written, ['parse+execute', 'E:denied', 'ZT']);
    assert.equal(sequencer.transactionStatus, 'T');
  });

  it('passes asynchronous server messages straight through', () => {
    const { sequencer, written } = harness();
    for (const message of fromServer(other('NOTIFY'))) sequencer.fromServer(message);
    assert.deepEqual(written, ['NOTIFY']);
  });
});
