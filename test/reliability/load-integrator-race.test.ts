/**
 * Found by the load test: `warden checkpoint` integrating while `warden up` does. An integrator
 * that read the state and the batches before another one committed a longer step must not write
 * its shorter tiles over the committed ones (its commit fails, but the tiles were already
 * written), or `warden verify` finds the tree's stored leaves shifted (leaf-mismatch).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDynamoClient } from '../../functions/lib/dynamodb.js';
import { Integrator } from '../../functions/lib/integrator.js';
import { LedgerReader } from '../../functions/lib/ledger-reader.js';
import { PREFIX, sessionDrafts, startTestLedger, type TestLedger } from '../helpers/ledger.js';

describe('integrators racing', () => {
  let ledger: TestLedger;

  before(async () => {
    ledger = await startTestLedger();
  });

  after(async () => {
    await ledger?.close();
  });

  it('a stale integrator never shortens a tile another one committed', async () => {
    await ledger.writer.append(sessionDrafts('first', 98));
    await ledger.integrator.integrateAll();
    await ledger.writer.append(sessionDrafts('second', 48));

    // What a slower integrator read at this point: the state and the one batch after it.
    const staleState = await ledger.reader.state();
    const staleBatches = await ledger.reader.batchesAfter(staleState.batches, 200);
    const stale = new LedgerReader(createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' }), PREFIX);
    stale.state = async () => staleState;
    stale.batchesAfter = async () => staleBatches;

    // Meanwhile the other integrator fills the first tile (256 leaves) and starts the next one.
    await ledger.writer.append(sessionDrafts('third', 198));
    await ledger.integrator.integrateAll();
    const committed = await ledger.reader.state();
    assert.ok(committed.size > 256, `the committed tree spans two tiles (${committed.size} leaves)`);

    const lost = await new Integrator(createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' }), stale).step();
    assert.equal(lost.entries, 0, 'the stale step lost the race and committed nothing');

    const report = await ledger.verify();
    assert.deepEqual(report.problems, [], 'the log still verifies');
    assert.equal(report.ok, true, 'the log still verifies');
  });
});
