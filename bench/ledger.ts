/**
 * Ledger benchmarks (issue: verifiable ledger). Prints one table and writes
 * bench/results-ledger.json. Run: npm run bench:ledger [-- --entries 1000000]
 *
 *   - append: entries/s with 1, 16 and 64 concurrent writers through group commit, beside
 *     the naive baseline of one conditional PutItem per entry, on the same dynalite;
 *   - integration: entries/s the integrator turns into the tree;
 *   - verify: the whole offline check (chains, indexes, Merkle root, checkpoint) over N entries;
 *   - proofs: a tiled inclusion proof at N entries, in memory and through the store.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { formatCheckpoint } from '../core/ledger/checkpoint.js';
import { GENESIS_HASH, sealEntry, type EntryDraft } from '../core/ledger/entry.js';
import { verifyLog, type IndexedEntry } from '../core/ledger/log-verify.js';
import { MerkleTreeBuilder, leafHash, verifyInclusion } from '../core/ledger/merkle.js';
import { generateNoteKey, parseSignerKey, parseVerifierKey, signNote } from '../core/ledger/signed-note.js';
import { computeTileUpdates, edgeTileIds, tileKey, tiledInclusionProof, type TileId } from '../core/ledger/tiles.js';
import { BatchWriter } from '../functions/lib/batch-writer.js';
import { createDynamoClient, startDynalite } from '../functions/lib/dynamodb.js';
import { Integrator } from '../functions/lib/integrator.js';
import { LedgerReader } from '../functions/lib/ledger-reader.js';
import { ensureTables } from '../functions/lib/table-setup.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { values } = parseArgs({ options: { entries: { type: 'string', default: '1000000' }, 'append-entries': { type: 'string', default: '20000' }, out: { type: 'string', default: 'results-ledger.json' } } });
const VERIFY_ENTRIES = Number(values.entries);
const APPEND_ENTRIES = Number(values['append-entries']);

interface Row {
  readonly measure: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly label: string; readonly value: number };
}
const rows: Row[] = [];
const progress = (line: string) => process.stderr.write(`${line}\n`);

function commandDraft(session: string, n: number): EntryDraft {
  return {
    session,
    type: 'command',
    time: new Date(1_800_000_000_000 + n).toISOString(),
    identity: { sub: `agent-${session.slice(0, 6)}@example.com`, groups: ['engineering', 'oncall'], chain: `chain-${session}`, act: [{ sub: 'planner-agent' }] },
    connection: 'orders-db',
    digest: 'd'.repeat(64),
    data: {
      commandId: n,
      kind: 'sql.query',
      policyVersion: 'a1b2c3d4e5f6',
      statement: 0,
      statements: 1,
      statementType: 'SelectStmt',
      tables: ['public.orders', 'public.customers'],
      text: 'SELECT o.id, o.total_cents, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.placed_at > $1 ORDER BY o.id LIMIT $2',
      decision: 'allow',
    },
  };
}

async function appendBenchmarks(): Promise<void> {
  const store = await startDynalite({});
  const client = createDynamoClient({ endpoint: store.endpoint, region: 'us-east-1' });
  await ensureTables(client, 'bench');
  let appended = 0;
  try {
    // Baseline: one conditional put per entry, the write path without group commit.
    for (const writers of [1, 16, 64]) {
      const perWriter = Math.ceil(APPEND_ENTRIES / 4 / writers);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i += 1) {
            const sealed = sealEntry({ v: 1, id: `x${w}.${i}`, seq: i, prev: GENESIS_HASH, ...commandDraft(`naive-${writers}-${w}`, i) });
            await client.send(
              new PutItemCommand({
                TableName: 'bench-ledger',
                Item: { session: { S: sealed.session }, seq: { N: String(sealed.seq) }, entry: { S: sealed.entry }, hash: { S: sealed.hash } },
                ConditionExpression: 'attribute_not_exists(#s)',
                ExpressionAttributeNames: { '#s': 'session' },
              }),
            );
          }
        }),
      );
      const naive = (perWriter * writers) / ((performance.now() - started) / 1000);

      const writer = new BatchWriter(client, 'bench');
      const perGroupWriter = Math.ceil(APPEND_ENTRIES / writers);
      const groupStarted = performance.now();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perGroupWriter; i += 1) await writer.append([commandDraft(`group-${writers}-${w}`, i)]);
        }),
      );
      const grouped = (perGroupWriter * writers) / ((performance.now() - groupStarted) / 1000);
      appended += perGroupWriter * writers;
      rows.push({ measure: `append, ${writers} concurrent writer(s)`, value: grouped, unit: 'entries/s', baseline: { label: 'one conditional put per entry', value: naive } });
      progress(`append with ${writers} writers: ${grouped.toFixed(0)} entries/s (naive ${naive.toFixed(0)})`);
    }
    const reader = new LedgerReader(client, 'bench');
    const started = performance.now();
    const result = await new Integrator(client, reader).integrateAll();
    const seconds = (performance.now() - started) / 1000;
    if (result.entries !== appended) throw new Error(`integrated ${result.entries} of ${appended}`);
    rows.push({ measure: `integrate ${result.entries} entries (chains, indexes, tiles)`, value: result.entries / seconds, unit: 'entries/s' });
    progress(`integration: ${(result.entries / seconds).toFixed(0)} entries/s`);

    const proofStarted = performance.now();
    const rounds = 50;
    for (let i = 0; i < rounds; i += 1) await tiledInclusionProof(reader, (i * 7919) % result.size, result.size);
    rows.push({ measure: `inclusion proof through the store at ${result.size} entries`, value: (performance.now() - proofStarted) / rounds, unit: 'ms' });
  } finally {
    await store.close();
  }
}

async function verifyBenchmark(): Promise<void> {
  progress(`building ${VERIFY_ENTRIES} entries for verify…`);
  const entries: IndexedEntry[] = [];
  const heads = new Map<string, { seq: number; hash: string }>();
  const tree = new MerkleTreeBuilder();
  for (let index = 0; index < VERIFY_ENTRIES; index += 1) {
    const session = `session-${index % 1000}`;
    const head = heads.get(session) ?? { seq: -1, hash: GENESIS_HASH };
    const draft = head.seq === -1 ? { ...commandDraft(session, index), type: 'session.start' as const } : commandDraft(session, index);
    const sealed = sealEntry({ v: 1, id: `b${index >> 8}.${index & 255}`, seq: head.seq + 1, prev: head.hash, ...draft });
    heads.set(session, { seq: sealed.seq, hash: sealed.hash });
    entries.push({ ...sealed, index, id: `b${index >> 8}.${index & 255}` });
    tree.append(leafHash(sealed.entry));
  }
  const signer = parseSignerKey(generateNoteKey('bench.example/log').skey);
  const note = await signNote(formatCheckpoint({ origin: 'bench.example/log', size: tree.size, rootHash: tree.root() }), [signer]);
  progress('verifying…');
  const started = performance.now();
  const report = verifyLog({ entries, verifier: parseVerifierKey(signer.vkey), checkpoints: [{ label: 'checkpoint', note }] });
  const seconds = (performance.now() - started) / 1000;
  if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.problems.slice(0, 3))}`);
  rows.push({ measure: `verify ${VERIFY_ENTRIES} entries offline (chains + tree + checkpoint)`, value: seconds, unit: 's' });
  progress(`verify: ${seconds.toFixed(2)} s`);

  // Proof generation at the same size, tiles in memory.
  const tiles = new Map<string, Buffer[]>();
  const leaves = entries.map((entry) => leafHash(entry.entry));
  let size = 0;
  for (let start = 0; start < leaves.length; start += 100_000) {
    const edges = new Map(edgeTileIds(size).map((id) => [tileKey(id), tiles.get(tileKey(id)) ?? []]));
    const update = computeTileUpdates(size, edges, leaves.slice(start, start + 100_000));
    for (const { id, hashes } of update.tiles) tiles.set(tileKey(id), hashes);
    size = update.newSize;
  }
  const reader = { readTiles: async (ids: readonly TileId[]) => ids.map((id) => tiles.get(tileKey(id)) ?? []) };
  const rounds = 1000;
  const proofStarted = performance.now();
  for (let i = 0; i < rounds; i += 1) {
    const index = (i * 104_729) % size;
    const proof = await tiledInclusionProof(reader, index, size);
    if (i === 0 && !verifyInclusion(leaves[index]!, index, size, proof, tree.root())) throw new Error('proof does not verify');
  }
  rows.push({ measure: `inclusion proof at ${size} entries (tiles in memory)`, value: ((performance.now() - proofStarted) / rounds) * 1000, unit: 'µs' });
}

await appendBenchmarks();
await verifyBenchmark();

const format = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(2));
console.log(`\nledger benchmarks (node ${process.version}, ${new Date().toISOString()})`);
console.log(`${'measure'.padEnd(64)} ${'value'.padStart(12)}  ${'baseline'.padStart(12)}  baseline is`);
for (const row of rows) {
  const baseline = row.baseline ? format(row.baseline.value).padStart(12) : ''.padStart(12);
  console.log(`${row.measure.padEnd(64)} ${`${format(row.value)} ${row.unit}`.padStart(12)}  ${baseline}  ${row.baseline?.label ?? ''}`);
}
await writeFile(new URL(values.out, import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), rows }, null, 2)}\n`);
