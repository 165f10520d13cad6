/**
 * The ledger's write path and its verification, on dynalite: group commit, integration,
 * checkpoints, and every kind of tampering `warden verify` must name.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { verifyChains } from '../../../core/ledger/chain-verify.js';
import { parseCheckpoint } from '../../../core/ledger/checkpoint.js';
import { LedgerError } from '../../../core/ledger/errors.js';
import { openNote } from '../../../core/ledger/signed-note.js';
import { Integrator } from '../../../functions/lib/integrator.js';
import { PREFIX, draft, sessionDrafts, startTestLedger, type TestLedger } from '../../helpers/ledger.js';

describe('ledger pipeline', () => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await startTestLedger();
  });
  afterEach(() => ledger.close());

  const names = { ledger: `${PREFIX}-ledger`, batches: `${PREFIX}-batches`, tiles: `${PREFIX}-tiles`, log: `${PREFIX}-log` };

  it('group-commits concurrent entries from many sessions into few batches', async () => {
    const sessions = Array.from({ length: 64 }, (_, i) => `s${i}`);
    const results = await Promise.all(sessions.map((session) => ledger.writer.append([draft(session, 'session.start', 0)])));
    const ids = results.flat().map((entry) => entry.id);
    assert.equal(new Set(ids).size, 64);
    const batches = new Set(ids.map((id) => id.split('.')[0]));
    assert.ok(batches.size < 64 / 4, `64 concurrent appends used ${batches.size} batches`);
    // Acknowledged means durable: a fresh reader sees every entry.
    const stored = await ledger.reader.batchesAfter(0, 100);
    assert.equal(stored.reduce((n, batch) => n + (JSON.parse(batch.body) as { entries: unknown[] }).entries.length, 0), 64);
  });

  it('integrates batches into per-session chains with contiguous global indexes', async () => {
    await Promise.all(['a', 'b', 'c'].map((session) => ledger.writer.append(sessionDrafts(session, 5))));
    for (const session of ['a', 'b']) await ledger.writer.append([draft(session, 'command', 99)]);
    const result = await ledger.integrator.integrateAll();
    assert.equal(result.entries, 3 * 7 + 2);
    const entries = await ledger.entries();
    assert.deepEqual(entries.map((e) => e.index).sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
    assert.equal(verifyChains(entries).ok, true);
    assert.deepEqual(entries.filter((e) => e.session === 'a').map((e) => e.seq).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7]);
    const state = await ledger.reader.state();
    assert.equal(state.size, 23);
    assert.equal((await ledger.integrator.integrateAll()).entries, 0, 'integrating again adds nothing');
  });

  it('lets two integrators race without losing or duplicating an entry', async () => {
    for (let i = 0; i < 30; i += 1) await ledger.writer.append(sessionDrafts(`r${i}`, 2));
    const rival = new Integrator(ledger.reader.client, ledger.reader);
    await Promise.all([ledger.integrator.integrateAll(), rival.integrateAll(), ledger.integrator.integrateAll()]);
    const report = await ledger.verify();
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.treeSize, 120);
  });

  it('signs checkpoints only when the tree grows, exports them, and keeps them consistent', async () => {
    await ledger.writer.append(sessionDrafts('a', 3));
    await ledger.integrator.integrateAll();
    const first = await ledger.checkpointer.checkpoint();
    assert.equal(first?.signed, true);
    assert.equal(first?.checkpoint.size, 5);
    assert.equal((await ledger.checkpointer.checkpoint())?.signed, false);
    await ledger.writer.append(sessionDrafts('b', 3));
    await ledger.integrator.integrateAll();
    const second = await ledger.checkpointer.checkpoint();
    assert.equal(second?.checkpoint.size, 10);
    const opened = openNote(second!.note, [ledger.verifier]);
    assert.equal(parseCheckpoint(opened.text).origin, 'test.example/log');
    const files = (await readdir(join(ledger.evidenceDir, 'checkpoints'))).sort();
    assert.deepEqual(files, ['00000000000000000005.note', '00000000000000000010.note', 'latest.note']);
    assert.equal(await readFile(join(ledger.evidenceDir, 'checkpoints', 'latest.note'), 'utf8'), second!.note);
    const report = await ledger.verify([first!.note]);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.deepEqual(report.checkpoints.map((c) => [c.size, c.verified]), [[10, true], [5, true]]);
  });

  it('refuses to sign a tree that is not an extension of the last checkpoint', async () => {
    await ledger.writer.append(sessionDrafts('a', 300));
    await ledger.integrator.integrateAll();
    await ledger.checkpointer.checkpoint();
    // Rewrite history under the signed checkpoint: replace the stored root of the first 256 leaves.
    const [tile] = await ledger.reader.readTiles([{ level: 1, index: 0 }]);
    const forged = Buffer.concat(tile!);
    forged[0]! ^= 0xff;
    await ledger.reader.client.send(new PutItemCommand({ TableName: names.tiles, Item: { tile: { S: '1/0' }, hashes: { B: forged } } }));
    await ledger.writer.append([draft('b', 'session.start', 0)]);
    await ledger.integrator.integrateAll();
    await assert.rejects(ledger.checkpointer.checkpoint(), (error: LedgerError) => error.code === 'INCONSISTENT_TREE' && /refusing to sign/.test(error.message));
  });

  describe('verification names what was done to the store', () => {
    let savedNote: string;
    beforeEach(async () => {
      for (const session of ['a', 'b', 'c']) await ledger.writer.append(sessionDrafts(session, 3));
      await ledger.integrator.integrateAll();
      savedNote = (await ledger.checkpointer.checkpoint())!.note;
      const report = await ledger.verify([savedNote]);
      assert.equal(report.ok, true, JSON.stringify(report.problems));
    });
    const entryAt = async (index: number) => (await ledger.entries()).find((e) => e.index === index)!;
    const key = (e: { session: string; seq: number }) => ({ session: { S: e.session }, seq: { N: String(e.seq) } });
    const kinds = async (saved: string[] = []) => (await ledger.verify(saved)).problems.map((p) => `${p.kind} ${p.subject}`);

    it('a modified entry', async () => {
      const victim = await entryAt(4);
      const edited = victim.entry.replace('"n":', '"n":1');
      await ledger.reader.client.send(new UpdateItemCommand({ TableName: names.ledger, Key: key(victim), UpdateExpression: 'SET #e = :e', ExpressionAttributeNames: { '#e': 'entry' }, ExpressionAttributeValues: { ':e': { S: edited } } }));
      const found = await kinds();
      assert.ok(found.includes(`hash-mismatch ${victim.session}/${victim.seq}`), found.join('\n'));
      assert.ok(found.includes(`leaf-mismatch ${victim.id} (${victim.session}/${victim.seq})`), found.join('\n'));
      assert.ok(found.includes('checkpoint-mismatch latest'), found.join('\n'));
    });

    it('a deleted entry', async () => {
      const victim = await entryAt(7);
      await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.ledger, Key: key(victim) }));
      const found = await kinds();
      assert.ok(found.includes(`missing-entries ${victim.session}/${victim.seq}`), found.join('\n'));
      assert.ok(found.includes('missing-index index 7'), found.join('\n'));
      assert.ok(found.some((k) => k.startsWith(`missing-entry ${victim.id}`)), found.join('\n'));
    });

    it('two entries reordered', async () => {
      const [x, y] = [await entryAt(2), await entryAt(9)];
      for (const [entry, index] of [[x, y.index], [y, x.index]] as const) {
        await ledger.reader.client.send(new UpdateItemCommand({ TableName: names.ledger, Key: key(entry), UpdateExpression: 'SET #i = :i', ExpressionAttributeNames: { '#i': 'index' }, ExpressionAttributeValues: { ':i': { N: String(index) } } }));
      }
      const found = await kinds();
      assert.ok(found.some((k) => k.startsWith('leaf-mismatch')), found.join('\n'));
      assert.ok(found.includes('root-mismatch integration state'), found.join('\n'));
      assert.ok(found.includes('checkpoint-mismatch latest'), found.join('\n'));
    });

    it('an inserted entry', async () => {
      const last = await entryAt(14);
      await ledger.reader.client.send(
        new PutItemCommand({ TableName: names.ledger, Item: { session: { S: 'forged' }, seq: { N: '0' }, entry: { S: last.entry }, hash: { S: last.hash }, index: { N: '15' }, id: { S: 'b99.0' }, batch: { N: '99' } } }),
      );
      const found = await kinds();
      assert.ok(found.includes('key-mismatch forged/0'), found.join('\n'));
      assert.ok(found.includes('size-mismatch integration state'), found.join('\n'));
    });

    it('a truncated tail, against a saved checkpoint', async () => {
      // The attacker removes the last entries and rewinds the state and the store's checkpoint to match.
      for (const index of [13, 14]) await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.ledger, Key: key(await entryAt(index)) }));
      await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.log, Key: { name: { S: 'integration' } } }));
      await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.log, Key: { name: { S: 'checkpoint' } } }));
      const withoutSaved = await kinds();
      const withSaved = await kinds([savedNote]);
      assert.ok(withSaved.includes('truncated saved 0'), withSaved.join('\n'));
      assert.ok(!withoutSaved.includes('truncated saved 0'));
    });

    it('an altered batch', async () => {
      const [batch] = await ledger.reader.batchesAfter(1, 1);
      await ledger.reader.client.send(
        new UpdateItemCommand({ TableName: names.batches, Key: { log: { S: 'main' }, seq: { N: String(batch!.seq) } }, UpdateExpression: 'SET body = :b', ExpressionAttributeValues: { ':b': { S: batch!.body.replace('"n":1', '"n":7') } } }),
      );
      assert.ok((await kinds()).includes(`batch-altered batch ${batch!.seq}`));
      await ledger.writer.append([draft('z', 'session.start', 0)]);
      await ledger.reader.client.send(new DeleteItemCommand({ TableName: names.log, Key: { name: { S: 'integration' } } }));
      await assert.rejects(ledger.integrator.integrateAll(), /does not match its hash: the store was altered; integration stopped/);
    });

    it('a checkpoint signed by another key', async () => {
      const { generateNoteKey, parseSignerKey, signNote } = await import('../../../core/ledger/signed-note.js');
      const impostor = parseSignerKey(generateNoteKey('test.example/log').skey);
      const forged = await signNote(openNote(savedNote, [ledger.verifier]).text, [impostor]);
      assert.ok((await kinds([forged])).includes('bad-checkpoint saved 0'));
    });
  });
});
