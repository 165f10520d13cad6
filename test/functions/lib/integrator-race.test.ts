/**
 * `Integrator.integrateAll` returns only once every durable batch is integrated, even when one
 * of its steps lost the race to another integrator: `warden checkpoint` integrates, then signs.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient } from '../../../functions/lib/dynamodb.js';
import { Integrator } from '../../../functions/lib/integrator.js';
import { PREFIX, draft, startTestLedger, type TestLedger } from '../../helpers/ledger.js';

/** More than one step's worth (an integration step takes up to 200 batches). */
const BATCHES = 250;

interface CommitHooks {
  /** Awaited before the n-th state commit is sent. */
  readonly before?: (commit: number) => Promise<void>;
  /** Called once the n-th state commit went through. */
  readonly after?: (commit: number) => void;
}

/** An integrator on its own client, whose state commits (its only UpdateItem) pass through `hooks`. */
function hookedIntegrator(ledger: TestLedger, hooks: CommitHooks): Integrator {
  const client = createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' });
  let commits = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'UpdateItemCommand') return next(args);
      const commit = ++commits;
      await hooks.before?.(commit);
      const output = await next(args);
      hooks.after?.(commit);
      return output;
    },
    { step: 'initialize' },
  );
  return new Integrator(client, ledger.reader);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

describe('integrators racing over many batches', () => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await startTestLedger();
    for (let i = 0; i < BATCHES; i += 1) await ledger.writer.append([draft(`s${i}`, 'session.start', 0)]);
  });
  afterEach(() => ledger.close());

  it('an integrator that lost a step goes on until every durable batch is integrated', async () => {
    const firstCommitted = deferred();
    const loserReturned = deferred();
    // A commits its first step, then holds its second commit until B has returned.
    const a = hookedIntegrator(ledger, { before: (n) => (n === 2 ? loserReturned.promise : Promise.resolve()), after: (n) => n === 1 && firstCommitted.resolve() });
    // B read the same state as A, so holding its first commit until A's went through makes it lose that step.
    const b = hookedIntegrator(ledger, { before: (n) => (n === 1 ? firstCommitted.promise : Promise.resolve()) });

    const [aRun, bRun] = [a.integrateAll(), b.integrateAll()];
    const bResult = await bRun;
    const whenBReturned = await ledger.reader.state();
    loserReturned.resolve();
    const aResult = await aRun;
    const whenAReturned = await ledger.reader.state();

    assert.equal(bResult.batches, BATCHES - 200, 'B lost the first step and integrated the second');
    assert.equal(whenBReturned.batches, BATCHES, 'when B returned, the state covered every batch');
    assert.equal(aResult.batches, 200, 'A integrated the first step and lost the second');
    assert.equal(whenAReturned.batches, BATCHES, 'when A returned, the state covered every batch');
    const report = await ledger.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.treeSize, BATCHES, 'every entry is in the tree once');
  });

  it('three integrators racing freely all return with every batch integrated', async () => {
    const integrators = [ledger.integrator, new Integrator(ledger.reader.client, ledger.reader), new Integrator(ledger.reader.client, ledger.reader)];
    const states = await Promise.all(integrators.map(async (integrator) => (await integrator.integrateAll(), ledger.reader.state())));
    for (const [i, state] of states.entries()) assert.equal(state.batches, BATCHES, `integrator ${i} returned with every batch integrated`);
    assert.equal((await ledger.verify()).ok, true, 'the log verifies');
  });

  it('stops, instead of spinning, when the state refuses every commit without moving', async () => {
    await ledger.integrator.integrateAll();
    for (let i = 0; i < 3; i += 1) await ledger.writer.append([draft(`late${i}`, 'session.start', 0)]);
    // Version 0 means "no state yet" to the integrator, whose commit then requires the item to be absent.
    await ledger.reader.client.send(new UpdateItemCommand({ TableName: `${PREFIX}-log`, Key: { name: { S: 'integration' } }, UpdateExpression: 'SET version = :zero', ExpressionAttributeValues: { ':zero': { N: '0' } } }));
    await assert.rejects(new Integrator(ledger.reader.client, ledger.reader).integrateAll(), /the integration state stays at version 0 but refuses its conditional update/);
  });
});
