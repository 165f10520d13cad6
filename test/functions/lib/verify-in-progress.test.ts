/**
 * `warden verify` while an integration step is between writing its ledger items and committing
 * the state that covers them, or after it died there: those entries are pending, not tampering.
 * Everything a state or signed checkpoint covers is still checked as strictly as before.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GENESIS_HASH, sealEntry } from '../../../core/ledger/entry.js';
import { createDynamoClient } from '../../../functions/lib/dynamodb.js';
import { Integrator } from '../../../functions/lib/integrator.js';
import type { IntegrationState } from '../../../functions/lib/ledger-reader.js';
import { PREFIX, draft, sessionDrafts, startTestLedger, type TestLedger } from '../../helpers/ledger.js';

const names = { ledger: `${PREFIX}-ledger`, log: `${PREFIX}-log` };

/** A client whose integration-state commits (the integrator's only UpdateItem) go through `atCommit` first. */
function clientWithCommitHook(ledger: TestLedger, atCommit: () => Promise<void>): DynamoDBClient {
  const client = createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UpdateItemCommand') await atCommit();
      return next(args);
    },
    { step: 'initialize' },
  );
  return client;
}

describe('verify while integration is in progress', () => {
  let ledger: TestLedger;
  let integrated: IntegrationState;
  /** Entries written by the steps that have not committed. */
  let uncommitted = 0;
  beforeEach(async () => {
    ledger = await startTestLedger();
    for (const session of ['a', 'b', 'c']) await ledger.writer.append(sessionDrafts(session, 3));
    await ledger.integrator.integrateAll();
    await ledger.checkpointer.checkpoint();
    integrated = await ledger.reader.state();
    uncommitted = 0;
  });
  afterEach(() => ledger.close());

  const appendSessions = async (...sessions: string[]) => {
    for (const session of sessions) {
      const drafts = sessionDrafts(session, 3);
      await ledger.writer.append(drafts);
      uncommitted += drafts.length;
    }
  };
  /** Leaves the store as an integrator that died at its commit point does: ledger items and tiles written, state not moved. */
  const dieBeforeCommit = async () => {
    const dying = new Integrator(clientWithCommitHook(ledger, () => Promise.reject(new Error('killed before the commit'))), ledger.reader);
    await assert.rejects(dying.integrateAll(), /killed before the commit/);
    assert.deepEqual(await ledger.reader.state(), integrated, 'the step did not commit');
  };
  const key = (e: { session: string; seq: number }) => ({ session: { S: e.session }, seq: { N: String(e.seq) } });
  const entryAt = async (index: number) => (await ledger.entries()).find((e) => e.index === index)!;
  const kinds = async () => (await ledger.verify()).problems.map((p) => `${p.kind} ${p.subject}`);

  it('passes during a step, counting its entries as pending, and checks them once it commits', async () => {
    await appendSessions('d', 'e');
    let reachedCommit!: () => void;
    const atCommit = new Promise<void>((resolve) => (reachedCommit = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const running = new Integrator(
      clientWithCommitHook(ledger, () => {
        reachedCommit();
        return released;
      }),
      ledger.reader,
    ).integrateAll();
    await atCommit;

    const during = await ledger.verify();
    assert.deepEqual(during.problems, [], 'no false alarm while the step is in progress');
    assert.equal(during.ok, true, 'the log verifies during the step');
    assert.equal(during.pendingEntries, uncommitted, 'the step wrote every entry it integrates');
    assert.equal(during.treeSize, integrated.size, 'the tree checked is the committed one');
    assert.equal(during.entries, integrated.size, 'only committed entries are counted as verified');
    assert.equal(during.pendingBatches, 2, 'the batches of the step are not integrated yet');

    release();
    await running;
    const after = await ledger.verify();
    assert.equal(after.ok, true, JSON.stringify(after.problems));
    assert.equal(after.pendingEntries, 0, 'nothing is pending once the step committed');
    assert.equal(after.pendingBatches, 0, 'every batch is integrated');
    assert.equal(after.treeSize, integrated.size + uncommitted, 'the committed step is in the tree');
  });

  it('passes after a step died before its commit, until the next run completes it', async () => {
    await appendSessions('d', 'e');
    await dieBeforeCommit();
    const died = await ledger.verify();
    assert.equal(died.ok, true, JSON.stringify(died.problems));
    assert.equal(died.pendingEntries, uncommitted, 'the dead step wrote every entry');

    await ledger.integrator.integrateAll();
    const repaired = await ledger.verify();
    assert.equal(repaired.ok, true, JSON.stringify(repaired.problems));
    assert.equal(repaired.pendingEntries, 0, 'the rerun committed the same entries');
    assert.equal(repaired.treeSize, integrated.size + uncommitted, 'each entry is in the tree once');
  });

  describe('still fails, with entries pending, on', () => {
    beforeEach(async () => {
      await appendSessions('d', 'e');
      await dieBeforeCommit();
    });

    it('an entry beyond the state from an integrated batch', async () => {
      const first = await entryAt(integrated.size);
      await ledger.reader.client.send(new UpdateItemCommand({ TableName: names.ledger, Key: key(first), UpdateExpression: 'SET #b = :b', ExpressionAttributeNames: { '#b': 'batch' }, ExpressionAttributeValues: { ':b': { N: String(integrated.batches) } } }));
      const found = await kinds();
      assert.ok(found.includes('size-mismatch integration state'), found.join('\n'));
    });

    it('an entry beyond the state naming a batch that is not durable', async () => {
      const first = await entryAt(integrated.size);
      await ledger.reader.client.send(new UpdateItemCommand({ TableName: names.ledger, Key: key(first), UpdateExpression: 'SET #b = :b', ExpressionAttributeNames: { '#b': 'batch' }, ExpressionAttributeValues: { ':b': { N: '999' } } }));
      const found = await kinds();
      assert.ok(found.includes('size-mismatch integration state'), found.join('\n'));
    });

    it('a gap below the state', async () => {
      await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.ledger, Key: key(await entryAt(7)) }));
      const found = await kinds();
      assert.ok(found.includes('missing-index index 7'), found.join('\n'));
    });

    it('a duplicate index below the state', async () => {
      const copied = await entryAt(3);
      await ledger.reader.client.send(
        new PutItemCommand({ TableName: names.ledger, Item: { ...key({ session: 'copy', seq: 0 }), entry: { S: copied.entry }, hash: { S: copied.hash }, index: { N: '3' }, id: { S: copied.id }, batch: { N: String(copied.batch) } } }),
      );
      const found = await kinds();
      assert.ok(found.some((k) => k.startsWith('duplicate-index')), found.join('\n'));
    });

    it('a state whose root does not match', async () => {
      await ledger.reader.client.send(new UpdateItemCommand({ TableName: names.log, Key: { name: { S: 'integration' } }, UpdateExpression: 'SET #r = :r', ExpressionAttributeNames: { '#r': 'root' }, ExpressionAttributeValues: { ':r': { S: '00'.repeat(32) } } }));
      const found = await kinds();
      assert.ok(found.includes('root-mismatch integration state'), found.join('\n'));
    });
  });

  it('fails on a state rolled back to make integrated entries pending, against the signed checkpoint', async () => {
    const rolledBackTo = (await ledger.reader.client.send(new GetItemCommand({ TableName: names.log, Key: { name: { S: 'integration' } }, ConsistentRead: true }))).Item!;
    await appendSessions('d', 'e');
    await ledger.integrator.integrateAll();
    await ledger.checkpointer.checkpoint();
    await ledger.reader.client.send(new PutItemCommand({ TableName: names.log, Item: rolledBackTo }));

    const report = await ledger.verify();
    assert.equal(report.pendingEntries, uncommitted, 'the rollback made the last step look uncommitted');
    const found = report.problems.map((p) => `${p.kind} ${p.subject}`);
    assert.ok(found.includes('truncated latest'), found.join('\n'));
  });

  it('counts a forged pending item, then catches it once integration has moved past its batch', async () => {
    await appendSessions('d', 'e');
    await dieBeforeCommit();
    // Well formed, chained from genesis, in a session the integrator never writes: the real step will not overwrite it.
    const forged = sealEntry({ v: 1, ...draft('forged', 'session.start', 0), id: `b${integrated.batches + 1}.9`, seq: 0, prev: GENESIS_HASH });
    await ledger.reader.client.send(
      new PutItemCommand({
        TableName: names.ledger,
        Item: { ...key(forged), entry: { S: forged.entry }, hash: { S: forged.hash }, index: { N: String(integrated.size) }, id: { S: `b${integrated.batches + 1}.9` }, batch: { N: String(integrated.batches + 1) } },
      }),
    );
    const pending = await ledger.verify();
    assert.equal(pending.ok, true, JSON.stringify(pending.problems));
    assert.equal(pending.pendingEntries, uncommitted + 1, 'the forged item is counted, not vouched for');

    await ledger.integrator.integrateAll();
    const { problems } = await ledger.verify();
    const collision = problems.find((p) => p.kind === 'duplicate-index' && `${p.subject} ${p.detail}`.includes('forged/0'));
    assert.ok(collision, `the forged item collides with the real entry at its index: ${JSON.stringify(problems)}`);
  });
});
