/**
 * Scheduled evidence export on a runtime built as `warden up` builds it (dynalite in memory),
 * writing to s3rver over the real S3 protocol: adjacent windows with no gap and no overlap, a
 * failed put retried by the next run, runners racing, and the Lambda handler and the local
 * timer sharing one cursor.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { wardenConfigSchema } from '../../../core/config.js';
import { unpackBundle } from '../../../core/evidence/archive.js';
import { BundlePaths, type ExportedEntry, type Manifest } from '../../../core/evidence/bundle.js';
import { verifyBundle } from '../../../core/evidence/verify-bundle.js';
import type { EntryDraft } from '../../../core/ledger/entry.js';
import { handler } from '../../../functions/export-scheduled.js';
import { startDynalite, type EmbeddedDynalite } from '../../../functions/lib/dynamodb.js';
import { BundleTargetError, directoryTarget } from '../../../functions/lib/evidence/bundle-target.js';
import { ExportCursorStore } from '../../../functions/lib/evidence/export-cursor.js';
import { runScheduledExport, scheduledExportDeps, startScheduledExports, type ExportedWindow, type ScheduledExportDeps } from '../../../functions/lib/evidence/scheduled-export.js';
import { loadPolicyFile } from '../../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime, statePaths, type Runtime } from '../../../functions/lib/runtime.js';
import { ensureTables } from '../../../functions/lib/table-setup.js';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../../helpers/s3rver.js';

const BUCKET = 'warden-evidence';
const PREFIX = 'scheduled/';

describe('scheduled evidence export', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let s3: TestS3;
  let runtime: Runtime;
  let deps: ScheduledExportDeps;
  let cursor: ExportCursorStore;
  /** Every entry written, by id, with its time. */
  const written = new Map<string, string>();

  /** Entries stamped at the given times, made durable. */
  const write = async (...times: number[]) => {
    const drafts = times.map((time, i): EntryDraft => ({
      session: 'sched',
      type: 'command',
      time: new Date(time).toISOString(),
      identity: { sub: 'alice', groups: [], chain: 'chain-sched', act: [] },
      connection: 'app',
      digest: String(i).padStart(64, '0'),
      data: { n: i },
    }));
    for (const entry of await runtime.ledger.append(drafts)) written.set(entry.id, entry.time);
  };
  const bundle = async (exported: ExportedWindow) => {
    const files = await unpackBundle(await s3.getObject(BUCKET, exported.key));
    const manifest = JSON.parse(files.get(BundlePaths.manifest)!.toString().split('\n')[1]!) as Manifest;
    const entries = files.get(BundlePaths.entries)!.toString().split('\n').filter(Boolean).map((line) => JSON.parse(line) as ExportedEntry);
    return { files, manifest, ids: entries.map((entry) => (JSON.parse(entry.entry) as { id: string }).id) };
  };
  /** Entries whose time falls in the window of a bundle (both ends included). */
  const idsWithin = (from: string, to: string) => [...written].filter(([, time]) => time >= from && time <= to).map(([id]) => id).sort();
  const putsTo = (key: string) => s3.requests.filter((request) => request.method === 'PUT' && request.path === `/${BUCKET}/${key}`).length;

  before(async () => {
    Object.assign(process.env, S3RVER_CREDENTIALS);
    dir = await mkdtemp(join(tmpdir(), 'warden-scheduled-'));
    [store, s3] = await Promise.all([startDynalite({}), startTestS3()]);
    await s3.createBucket(BUCKET);
    const config = wardenConfigSchema.parse({
      evidence: { export: { intervalMinutes: 5, retentionDays: 7, s3: { bucket: BUCKET, prefix: PREFIX, endpoint: s3.endpoint, forcePathStyle: true } } },
    });
    runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: 'test-proxy-key-0123456789', policy: await loadPolicyFile(undefined) });
    await ensureTables(runtime.client, config.store.tablePrefix);
    configureRuntime(runtime);
    deps = scheduledExportDeps(runtime, () => undefined);
    cursor = new ExportCursorStore(runtime.client, config.store.tablePrefix);
  });

  after(async () => {
    await store?.close();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exports adjacent windows, each once: no gap, no overlap, an entry at the boundary in the later one', async () => {
    const t1 = Date.now();
    await write(t1 - 60_000, t1 - 1);
    await write(t1); // stamped at the boundary: it belongs to the window that starts there
    const first = await runScheduledExport(deps, new Date(t1));
    assert.equal(first.length, 1);
    assert.equal(first[0]!.from, new Date(t1 - 5 * 60_000).toISOString(), 'the first window is the last intervalMinutes');
    assert.equal(first[0]!.to, new Date(t1 - 1).toISOString());
    assert.equal(first[0]!.key, `${PREFIX}${first[0]!.from.replaceAll(':', '-')}--${first[0]!.to.replaceAll(':', '-')}.tar.gz`);

    await write(t1 + 10, t1 + 20);
    const t2 = t1 + 100;
    const second = await runScheduledExport(deps, new Date(t2));
    assert.equal(second.length, 1);
    assert.equal(second[0]!.from, new Date(t1).toISOString(), 'the second window starts where the first ended');
    assert.deepEqual(await runScheduledExport(deps, new Date(t2)), [], 'nothing is left to export up to t2');

    const [a, b] = [await bundle(first[0]!), await bundle(second[0]!)];
    for (const { files, manifest } of [a, b]) assert.ok(verifyBundle(files, runtime.logSigner.vkey).ok, `${manifest.from} verifies`);
    assert.deepEqual(a.ids.sort(), idsWithin(a.manifest.from, a.manifest.to));
    assert.deepEqual(b.ids.sort(), idsWithin(b.manifest.from, b.manifest.to));
    assert.equal(a.ids.length, 2);
    assert.equal(b.ids.length, 3);
    assert.deepEqual(a.ids.filter((id) => b.ids.includes(id)), [], 'no entry is in both');
    assert.equal(first[0]!.entries + second[0]!.entries, written.size, 'every entry is in one of them');
    assert.deepEqual(await cursor.read(), { version: 4, exportedTo: new Date(t2).toISOString() });
    assert.equal(putsTo(first[0]!.key), 1);
  });

  it('leaves the cursor where it was when the put fails, and the next run writes the missed window first', async () => {
    const before = await cursor.read();
    const t3 = Date.parse(before.exportedTo!) + 100;
    await write(t3 - 50);
    await s3.stop();
    try {
      await assert.rejects(runScheduledExport(deps, new Date(t3)), (error: unknown) => error instanceof BundleTargetError && error.reason === 'unreachable' && /cannot reach S3/.test(error.message));
    } finally {
      await s3.start();
    }
    const stuck = await cursor.read();
    assert.equal(stuck.exportedTo, before.exportedTo, 'not advanced');
    assert.deepEqual(stuck.pending, { from: before.exportedTo, to: new Date(t3).toISOString() }, 'the window stays claimed for the next run');

    await write(t3 + 10);
    const t4 = t3 + 100;
    const next = await runScheduledExport(deps, new Date(t4));
    assert.deepEqual(next.map((w) => [w.from, w.to, w.entries, w.written]), [
      [before.exportedTo, new Date(t3 - 1).toISOString(), 1, true],
      [new Date(t3).toISOString(), new Date(t4 - 1).toISOString(), 1, true],
    ]);
    assert.equal((await cursor.read()).exportedTo, new Date(t4).toISOString());
  });

  it('records each window once when runners race', async () => {
    const from = (await cursor.read()).exportedTo!;
    const t5 = Date.parse(from) + 100;
    await write(t5 - 10);
    // The race under test is the cursor's: the runners share one state directory here, whose
    // checkpoint files (DirectorySink) are not written for concurrent signers, so sign first.
    await deps.checkpoint();
    const racer = { ...deps, checkpoint: async () => undefined };
    // Two runners at the same instant (a Lambda retry), and a third a moment later (another warden up).
    const runs = await Promise.all([runScheduledExport(racer, new Date(t5)), runScheduledExport(racer, new Date(t5)), runScheduledExport(racer, new Date(t5 + 30))]);
    const recorded = runs.flat().sort((x, y) => x.from.localeCompare(y.from));
    assert.deepEqual(recorded.map((w) => [w.from, w.to]), [
      [from, new Date(t5 - 1).toISOString()],
      [new Date(t5).toISOString(), new Date(t5 + 29).toISOString()],
    ]);
    assert.equal(recorded[0]!.entries, 1);
    assert.equal((await cursor.read()).exportedTo, new Date(t5 + 30).toISOString());
    // Runners finishing one claimed window may each try to put it: every put is conditional, so
    // S3 takes one. s3rver ignores If-None-Match on PUT, so only the condition is checked here.
    const puts = s3.requests.filter((request) => request.method === 'PUT' && request.path === `/${BUCKET}/${recorded[0]!.key}`);
    assert.ok(puts.length >= 1 && puts.every((put) => put.headers['if-none-match'] === '*'));
  });

  it('runs the same export from the Lambda handler and from the local timer, on one cursor', async () => {
    const from = (await cursor.read()).exportedTo!;
    const t6 = Date.parse(from) + 100;
    await write(t6 - 10);
    const event: ScheduledEvent = { version: '0', id: 'e1', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date(t6).toISOString(), region: 'us-east-1', resources: ['arn:aws:events:us-east-1:123456789012:rule/warden-export'], detail: {} };
    const byHandler = (await handler(event, {} as Context)) as ExportedWindow[];
    assert.deepEqual(byHandler.map((w) => [w.from, w.to, w.entries]), [[from, new Date(t6 - 1).toISOString(), 1]]);
    assert.deepEqual(await handler(event, {} as Context), [], 'a retried invocation exports nothing twice');

    await write(Date.now());
    const byTimer = await new Promise<ExportedWindow>((resolve, reject) => {
      const timer = startScheduledExports(deps, 50, { onExport: (exported) => void timer.stop().then(() => resolve(exported)), onError: reject });
    });
    assert.equal(byTimer.from, new Date(t6).toISOString(), 'the timer goes on where the handler stopped');
    assert.ok(byTimer.entries >= 1);
    assert.ok(verifyBundle((await bundle(byTimer)).files, runtime.logSigner.vkey).ok);
  });

  it('refuses to run when scheduled export is off', async () => {
    await assert.rejects(runScheduledExport({ ...deps, intervalMinutes: 0 }, new Date()), /intervalMinutes is 0.*set it to 5 or more/);
  });

  it('writes bundles to STATE_DIR/evidence/bundles when no bucket is configured: read-only, never replaced', async () => {
    const local = await buildRuntime({ config: wardenConfigSchema.parse({}), stateDir: dir, proxyKey: 'k', policy: runtime.policy, storeEndpoint: store.endpoint });
    assert.equal(local.evidence.bundles.location, statePaths(dir).evidenceBundles);
    const target = directoryTarget(statePaths(dir).evidenceBundles);
    const window = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T00:04:59.999Z' };
    const stored = await target.put(window, Buffer.from('first'), new Date());
    assert.equal(stored.location, join(statePaths(dir).evidenceBundles, '2026-01-01T00-00-00.000Z--2026-01-01T00-04-59.999Z.tar.gz'));
    assert.equal((await stat(stored.location)).mode & 0o777, 0o444);
    await assert.rejects(target.put(window, Buffer.from('second'), new Date()), (error: unknown) => error instanceof BundleTargetError && error.reason === 'exists');
    assert.equal(await readFile(stored.location, 'utf8'), 'first');
  });
});
