/**
 * GET /v1/ledger/status — the integrated tree, the latest signed checkpoint and checks of one
 * against the other, for the console's reader groups. The checks read the stored tiles (as the
 * checkpointer does); `warden verify` remains the full check of every entry and batch.
 */
import type { LedgerStatus } from '../core/console-api.js';
import { parseCheckpoint, type Checkpoint } from '../core/ledger/checkpoint.js';
import { openNote, parseVerifierKey } from '../core/ledger/signed-note.js';
import { tiledRoot } from '../core/ledger/tiles.js';
import { callerOf } from './lib/callers.js';
import { requireReader } from './lib/console-access.js';
import { apiHandler, json } from './lib/http.js';
import { LedgerReader, type IntegrationState, type StoredCheckpoint } from './lib/ledger-reader.js';
import { getRuntime } from './lib/runtime.js';

type Check = LedgerStatus['verification']['checks'][number];

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    requireReader(runtime, await callerOf(event, runtime));
    const reader = new LedgerReader(runtime.client, runtime.config.store.tablePrefix);
    const [state, stored] = await Promise.all([reader.state(), reader.latestCheckpoint()]);
    const verifierKey = runtime.logSigner.vkey;
    // The checkpoint is usually for the whole tree: its root is then read from the tiles once.
    const roots = new Map<number, Promise<Buffer>>();
    const rootAt = (size: number) => roots.get(size) ?? roots.set(size, tiledRoot(reader, size)).get(size)!;
    const checks: Check[] = [await tilesCheck(rootAt, 'tree-root', state.size, state.root, 'the integrated root')];
    const opened = openCheckpoint(stored, state, verifierKey);
    checks.push(opened.check);
    const { checkpoint } = opened;
    if (checkpoint) {
      const { origin } = runtime.config.ledger;
      checks.push({
        name: 'checkpoint-origin',
        ok: checkpoint.origin === origin,
        detail: checkpoint.origin === origin ? `the checkpoint names this log (${origin})` : `the checkpoint names the log ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)} (ledger.origin)`,
      });
      const ahead = checkpoint.size > state.size;
      checks.push({
        name: 'checkpoint-not-ahead-of-tree',
        ok: !ahead,
        detail: ahead ? `the checkpoint is for ${checkpoint.size} entries but the tree has ${state.size}: entries were removed from the store` : `the checkpoint's size ${checkpoint.size} is within the tree's ${state.size}`,
      });
      if (!ahead) checks.push(await tilesCheck(rootAt, 'checkpoint-root', checkpoint.size, checkpoint.rootHash, 'the signed root'));
    }
    const status: LedgerStatus = {
      treeSize: state.size,
      rootHash: state.root.toString('hex'),
      ...(checkpoint ? { checkpoint: { size: checkpoint.size, rootHash: checkpoint.rootHash.toString('hex'), origin: checkpoint.origin, note: checkpoint.note } } : {}),
      verifierKey,
      verification: { ok: checks.every((check) => check.ok), checkedAt: new Date(runtime.now()).toISOString(), checks },
    };
    return json(200, status);
  });

/** Whether the stored tiles, at tree size `size`, hash to `expected`, which `what` names. */
async function tilesCheck(rootAt: (size: number) => Promise<Buffer>, name: string, size: number, expected: Buffer, what: string): Promise<Check> {
  try {
    const root = await rootAt(size);
    return root.equals(expected)
      ? { name, ok: true, detail: `the stored tiles at size ${size} hash to ${what}` }
      : { name, ok: false, detail: `the stored tiles at size ${size} hash to ${root.toString('hex')}, not ${what} ${expected.toString('hex')}: the store was altered` };
  } catch (error) {
    return { name, ok: false, detail: `the stored tiles at size ${size} cannot be read: ${(error as Error).message}` };
  }
}

function openCheckpoint(stored: StoredCheckpoint | undefined, state: IntegrationState, verifierKey: string): { check: Check; checkpoint?: Checkpoint & { note: string } } {
  const name = 'checkpoint-signature';
  if (!stored) {
    return state.size === 0
      ? { check: { name, ok: true, detail: 'no checkpoint yet: the tree is empty' } }
      : { check: { name, ok: false, detail: `no checkpoint is stored for a tree of ${state.size} entries; the checkpointer signs one every ledger.checkpointIntervalSeconds (warden checkpoint signs one now)` } };
  }
  try {
    const opened = openNote(stored.note, [parseVerifierKey(verifierKey)]);
    const checkpoint = parseCheckpoint(opened.text);
    return { check: { name, ok: true, detail: `the checkpoint of size ${checkpoint.size} is signed by the log's key ${opened.verifiedSignatures[0]!.name}` }, checkpoint: { ...checkpoint, note: stored.note } };
  } catch (error) {
    return { check: { name, ok: false, detail: `the stored checkpoint does not verify with the log's key: ${(error as Error).message}` } };
  }
}
