/**
 * Crash safety: the real `warden` process is killed (SIGKILL) between the steps of the
 * write path, then run again. Nothing acknowledged is lost, nothing is duplicated, and the
 * log verifies. The store (dynalite) lives in the test process, so it survives the kills.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { stringify } from 'yaml';
import type { LogReport } from '../../../core/ledger/log-verify.js';
import { BatchWriter } from '../../../functions/lib/batch-writer.js';
import { createDynamoClient, startDynalite, type EmbeddedDynalite } from '../../../functions/lib/dynamodb.js';
import { LedgerReader } from '../../../functions/lib/ledger-reader.js';
import { ensureTables } from '../../../functions/lib/table-setup.js';
import { sessionDrafts } from '../../helpers/ledger.js';
import { freePort } from '../../helpers/postgres.js';
import { runCli } from '../../helpers/warden.js';

const PREFIX = 'crash';

describe('crash safety of the write path', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let configPath: string;
  let writer: BatchWriter;
  let reader: LedgerReader;
  let written = 0;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['--config', configPath, ...args], { ...process.env, ...env });
  const appendSessions = async (count: number) => {
    for (let i = 0; i < count; i += 1) {
      const drafts = sessionDrafts(`s${written}-${i}`, 3);
      await writer.append(drafts);
      written += drafts.length;
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-crash-'));
    store = await startDynalite({});
    configPath = join(dir, 'warden.yaml');
    await writeFile(
      configPath,
      stringify({
        stateDir: 'state',
        store: { endpoint: store.endpoint, tablePrefix: PREFIX },
        controlPlane: { listen: { port: await freePort() } },
        proxy: { postgres: { port: await freePort() } },
        demo: 'never',
      }),
    );
    const client = createDynamoClient({ endpoint: store.endpoint, region: 'us-east-1' });
    await ensureTables(client, PREFIX);
    writer = new BatchWriter(client, PREFIX);
    reader = new LedgerReader(client, PREFIX);
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const point of ['integrator:after-ledger', 'integrator:after-tiles', 'integrator:after-state']) {
    it(`repairs a kill -9 at ${point}`, async () => {
      await appendSessions(4);
      const before = await reader.state();
      const killed = await cli(['checkpoint'], { WARDEN_CRASH_AT: point });
      assert.equal(killed.signal, 'SIGKILL', killed.stderr);
      const afterKill = await reader.state();
      if (point === 'integrator:after-state') assert.ok(afterKill.size > before.size, 'the step committed before the kill');
      else assert.equal(afterKill.size, before.size, 'the step did not commit before the kill');

      // Until the next run, the dead step's entries are pending, not tampering.
      const died = await cli(['verify', '--json']);
      const diedReport = JSON.parse(died.stdout) as LogReport;
      assert.equal(diedReport.ok, true, JSON.stringify(diedReport.problems));
      assert.equal(died.code, 0, died.stderr);
      const uncommitted = written - afterKill.size;
      assert.equal(diedReport.pendingEntries, uncommitted, 'the entries written but not committed are pending');
      if (uncommitted > 0) assert.match((await cli(['verify'])).stdout, new RegExp(`\\n  ${uncommitted} entries are written by an integration step that has not committed`));

      const rerun = await cli(['checkpoint', '--json']);
      assert.equal(rerun.code, 0, rerun.stderr);
      const verified = await cli(['verify', '--json']);
      const report = JSON.parse(verified.stdout) as LogReport;
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.treeSize, written, 'every durable entry is in the tree exactly once');
      assert.equal(report.pendingBatches, 0);
      assert.equal(report.pendingEntries, 0, 'the rerun committed every pending entry');
    });
  }

  it('keeps an entry that was durable when the writer died before acknowledging it', async () => {
    const batchesBefore = (await reader.batchesAfter(0, 1000)).length;
    const killed = await cli(['up'], { WARDEN_CRASH_AT: 'batch:after-put' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const batches = await reader.batchesAfter(0, 1000);
    assert.equal(batches.length, batchesBefore + 1);
    assert.match(batches.at(-1)!.body, /"type":"config\.snapshot"/);
    const rerun = await cli(['checkpoint']);
    assert.equal(rerun.code, 0, rerun.stderr);
    const report = JSON.parse((await cli(['verify', '--json'])).stdout) as LogReport;
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.treeSize, written + 1);
  });

  it('proves inclusion from the CLI, and detects a truncated tail against a saved checkpoint', async () => {
    const signed = JSON.parse((await cli(['checkpoint', '--json'])).stdout) as { note: string; size: number };
    const savedPath = join(dir, 'saved.note');
    await writeFile(savedPath, signed.note);

    const proof = await cli(['proof', 'b1.0', '--json']);
    assert.equal(proof.code, 0, proof.stderr);
    const result = JSON.parse(proof.stdout) as { verified: boolean; treeSize: number; proof: string[]; entry: { index: number } };
    assert.equal(result.verified, true);
    assert.equal(result.treeSize, signed.size);
    assert.equal(result.entry.index, 0);
    assert.ok(result.proof.length >= 4);
    assert.equal((await cli(['proof', 'not-an-entry'])).code, 2);
    assert.equal((await cli(['proof', 'b999.0'])).code, 1);

    assert.equal((await cli(['verify', '--checkpoint', savedPath])).code, 0);
    // Remove the newest entry and rewind the store's own claims to hide it.
    const newest = (await reader.state()).size - 1;
    for await (const entry of reader.entries()) {
      if (entry.index === newest) await reader.client.send(new DeleteItemCommand({ TableName: `${PREFIX}-ledger`, Key: { session: { S: entry.session }, seq: { N: String(entry.seq) } } }));
    }
    for (const name of ['integration', 'checkpoint']) await reader.client.send(new DeleteItemCommand({ TableName: `${PREFIX}-log`, Key: { name: { S: name } } }));
    const truncated = await cli(['verify', '--checkpoint', savedPath]);
    assert.equal(truncated.code, 1);
    // Without a state, every entry left looks written by a first step that has not committed.
    assert.match(truncated.stdout, new RegExp(`${savedPath.replace(/[.]/g, '\\.')}: truncated: the checkpoint commits to ${signed.size} entries but the log holds 0 integrated entries \\(and ${signed.size - 1} not committed\\)`));
  });
});
