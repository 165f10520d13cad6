import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MerkleTreeBuilder,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../../core/ledger/merkle.js';
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  computeTileUpdates,
  edgeTileIds,
  readNodeHashes,
  tileKey,
  tileWidthAt,
  tiledConsistencyProof,
  tiledInclusionProof,
  tiledRangeHash,
  tiledRoot,
  type TileId,
  type TileReader,
} from '../../../core/ledger/tiles.js';
import { mulberry32 } from '../../helpers/prng.js';

// ---- Fixtures ----

const randomInt = (rand: () => number, min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));

function randomHashes(rand: () => number, count: number): Buffer[] {
  const bytes = Buffer.alloc(count * 32);
  for (let offset = 0; offset < bytes.length; offset += 4) bytes.writeUInt32LE(Math.floor(rand() * 2 ** 32), offset);
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * 32, (i + 1) * 32));
}

const hex = (hashes: readonly Uint8Array[]): string[] => hashes.map((h) => Buffer.from(h).toString('hex'));

/** Tiles kept in memory, extended only through computeTileUpdates. */
class MemoryTileStore {
  readonly tiles = new Map<string, Buffer[]>();
  size = 0;

  append(leafHashes: readonly Buffer[]): { id: TileId; hashes: Buffer[] }[] {
    const edge = new Map<string, Buffer[]>();
    for (const id of edgeTileIds(this.size)) edge.set(tileKey(id), this.tiles.get(tileKey(id)) ?? []);
    const update = computeTileUpdates(this.size, edge, leafHashes);
    for (const { id, hashes } of update.tiles) this.tiles.set(tileKey(id), hashes);
    this.size = update.newSize;
    return update.tiles;
  }

  /** 'snapshot' returns each tile cut to its width at treeSize; 'latest' returns it as it is now (maybe grown). */
  reader(mode: 'snapshot' | 'latest'): CountingReader {
    return new CountingReader(this, mode);
  }
}

class CountingReader implements TileReader {
  calls = 0;
  tilesRead = 0;
  grownTilesReturned = 0;

  constructor(
    private readonly store: MemoryTileStore,
    private readonly mode: 'snapshot' | 'latest',
  ) {}

  async readTiles(ids: readonly TileId[], treeSize: number): Promise<Buffer[][]> {
    this.calls += 1;
    this.tilesRead += ids.length;
    assert.ok(treeSize <= this.store.size, `read at tree size ${treeSize} beyond the store's ${this.store.size}`);
    assert.equal(new Set(ids.map(tileKey)).size, ids.length, 'tile ids in one read are distinct');
    return ids.map((id) => {
      const width = expectedWidth(id, treeSize);
      assert.ok(width > 0, `tile ${tileKey(id)} does not exist at tree size ${treeSize}`);
      const tile = this.store.tiles.get(tileKey(id)) ?? [];
      if (tile.length > width) this.grownTilesReturned += 1;
      return this.mode === 'snapshot' ? tile.slice(0, width) : tile.slice();
    });
  }

  reset(): void {
    this.calls = 0;
    this.tilesRead = 0;
  }
}

/** Tile width re-derived here rather than taken from tileWidthAt: complete height-8L nodes past the tile's start. */
function expectedWidth(id: TileId, size: number): number {
  const nodes = Math.floor(size / 2 ** (TILE_HEIGHT * id.level));
  return Math.min(TILE_WIDTH, Math.max(0, nodes - TILE_WIDTH * id.index));
}

/** Every level's node hashes from scratch: entry j of level L is MTH of leaves [j * 2^(8L), (j + 1) * 2^(8L)). */
function nodeLevelsFromScratch(leaves: readonly Buffer[]): Buffer[][] {
  const levels: Buffer[][] = [leaves.slice()];
  for (let block = TILE_WIDTH; block <= leaves.length; block *= TILE_WIDTH) {
    const level: Buffer[] = [];
    for (let start = 0; start + block <= leaves.length; start += block) {
      level.push(rootFromLeafHashes(leaves.slice(start, start + block)));
    }
    levels.push(level);
  }
  return levels;
}

function expectedTile(levels: readonly Buffer[][], id: TileId, size: number): Buffer[] {
  const start = id.index * TILE_WIDTH;
  return (levels[id.level] ?? []).slice(start, start + expectedWidth(id, size));
}

function expectedTilesAt(levels: readonly Buffer[][], size: number): Map<string, Buffer[]> {
  const tiles = new Map<string, Buffer[]>();
  for (let level = 0; Math.floor(size / 2 ** (TILE_HEIGHT * level)) > 0; level++) {
    const nodes = Math.floor(size / 2 ** (TILE_HEIGHT * level));
    for (let index = 0; index * TILE_WIDTH < nodes; index++) {
      tiles.set(tileKey({ level, index }), expectedTile(levels, { level, index }, size));
    }
  }
  return tiles;
}

/** The tiles whose width grows from oldSize to newSize, i.e. the ones an append must rewrite. */
function tilesThatGrow(oldSize: number, newSize: number): string[] {
  const keys: string[] = [];
  for (let level = 0; Math.floor(newSize / 2 ** (TILE_HEIGHT * level)) > 0; level++) {
    const before = Math.floor(oldSize / 2 ** (TILE_HEIGHT * level));
    const after = Math.floor(newSize / 2 ** (TILE_HEIGHT * level));
    if (after === before) continue;
    for (let index = Math.floor(before / TILE_WIDTH); index <= Math.floor((after - 1) / TILE_WIDTH); index++) {
      keys.push(tileKey({ level, index }));
    }
  }
  return keys.sort();
}

/** Number of tile levels with at least one complete node at `size`. */
function tileLevels(size: number): number {
  let levels = 0;
  while (Math.floor(size / 2 ** (TILE_HEIGHT * levels)) > 0) levels++;
  return levels;
}

function chunkSize(rand: () => number): number {
  const r = rand();
  if (r < 0.25) return randomInt(rand, 0, 3);
  if (r < 0.8) return randomInt(rand, 1, 700);
  return randomInt(rand, 1, 20_000);
}

/**
 * Appends `leaves` in the given chunks, checking after every append that exactly the tiles whose width grew
 * were returned, each with its from-scratch content.
 */
function buildChecked(
  leaves: readonly Buffer[],
  levels: readonly Buffer[][],
  chunks: readonly number[],
): MemoryTileStore {
  const store = new MemoryTileStore();
  for (const chunk of chunks) {
    const oldSize = store.size;
    const newSize = oldSize + chunk;
    const changed = store.append(leaves.slice(oldSize, newSize));
    assert.equal(store.size, newSize);
    const changedKeys = changed.map(({ id }) => tileKey(id)).sort();
    assert.deepEqual(changedKeys, tilesThatGrow(oldSize, newSize), `${oldSize}+${chunk}`);
    for (const { id, hashes } of changed) {
      assert.deepEqual(hex(hashes), hex(expectedTile(levels, id, newSize)), `tile ${tileKey(id)} at ${newSize}`);
    }
  }
  return store;
}

function randomChunks(rand: () => number, total: number): number[] {
  const chunks: number[] = [];
  for (let sum = 0; sum < total; ) {
    const chunk = Math.min(chunkSize(rand), total - sum);
    chunks.push(chunk);
    sum += chunk;
  }
  return chunks;
}

/** Chunks that stop at each of `sizes` (ascending) on the way to the last one. */
function chunksThrough(sizes: readonly number[]): number[] {
  return sizes.map((size, i) => size - (sizes[i - 1] ?? 0));
}

const FIXTURE_SIZE = 70_000;
const EDGE_SIZES = [1, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537];

interface Fixture {
  leaves: Buffer[];
  levels: Buffer[][];
  store: MemoryTileStore;
  rootAt: (size: number) => Buffer;
}

let fixture: Fixture | undefined;

/** A 70,000-leaf tree built in random chunks (shared by the proof tests; built and checked once). */
function getFixture(): Fixture {
  if (fixture) return fixture;
  const rand = mulberry32(0x7469_6c65);
  const leaves = randomHashes(rand, FIXTURE_SIZE);
  const levels = nodeLevelsFromScratch(leaves);
  const store = buildChecked(leaves, levels, randomChunks(rand, FIXTURE_SIZE));
  // Roots by MerkleTreeBuilder: compact ranges saved every 1024 leaves, resumed and extended on demand.
  const checkpoints: Buffer[][] = [];
  const builder = new MerkleTreeBuilder();
  for (const leaf of leaves) {
    if (builder.size % 1024 === 0) checkpoints.push(builder.subtreeRoots);
    builder.append(leaf);
  }
  const rootAt = (size: number): Buffer => {
    const base = Math.floor(size / 1024) * 1024;
    const resumed = MerkleTreeBuilder.restore(base, checkpoints[base / 1024]!);
    for (let i = base; i < size; i++) resumed.append(leaves[i]!);
    return resumed.root();
  };
  fixture = { leaves, levels, store, rootAt };
  return fixture;
}

/** Checks the tiled proofs and root at `size` against merkle.ts, and that each took at most one read. */
async function checkAgainstArrays(f: Fixture, reader: CountingReader, size: number, indexes: number[], olds: number[]) {
  const root = f.rootAt(size);
  reader.reset();
  assert.deepEqual(hex([await tiledRoot(reader, size)]), hex([root]), `root at ${size}`);
  assert.equal(reader.calls, 1);
  assert.ok(reader.tilesRead <= tileLevels(size), `root at ${size} read ${reader.tilesRead} tiles`);

  for (const index of indexes) {
    reader.reset();
    const proof = await tiledInclusionProof(reader, index, size);
    assert.deepEqual(hex(proof), hex(inclusionProof(f.leaves, index, size)), `inclusion ${index} of ${size}`);
    assert.equal(verifyInclusion(f.leaves[index]!, index, size, proof, root), true);
    assert.equal(reader.calls, proof.length === 0 ? 0 : 1, `inclusion ${index} of ${size}: readTiles calls`);
    assert.ok(reader.tilesRead <= 2 * tileLevels(size), `inclusion ${index} of ${size}: ${reader.tilesRead} tiles`);
  }

  for (const size1 of olds) {
    reader.reset();
    const proof = await tiledConsistencyProof(reader, size1, size);
    assert.deepEqual(hex(proof), hex(consistencyProof(f.leaves, size1, size)), `consistency ${size1} -> ${size}`);
    assert.equal(verifyConsistency(size1, size, proof, f.rootAt(size1), root), true);
    assert.equal(reader.calls, proof.length === 0 ? 0 : 1, `consistency ${size1} -> ${size}: readTiles calls`);
    assert.ok(reader.tilesRead <= 2 * tileLevels(size), `consistency ${size1} -> ${size}: ${reader.tilesRead} tiles`);
  }
}

// ---- Tests ----

describe('tile geometry', () => {
  it('tileWidthAt counts the complete nodes of each tile, including partial right-edge tiles', () => {
    const cases: [TileId, number, number][] = [
      [{ level: 0, index: 0 }, 0, 0],
      [{ level: 0, index: 0 }, 1, 1],
      [{ level: 0, index: 0 }, 255, 255],
      [{ level: 0, index: 0 }, 256, 256],
      [{ level: 0, index: 0 }, 1_000, 256],
      [{ level: 0, index: 1 }, 256, 0],
      [{ level: 0, index: 1 }, 257, 1],
      [{ level: 1, index: 0 }, 255, 0],
      [{ level: 1, index: 0 }, 256, 1],
      [{ level: 1, index: 0 }, 65_535, 255],
      [{ level: 1, index: 0 }, 65_536, 256],
      [{ level: 1, index: 1 }, 65_791, 0],
      [{ level: 1, index: 1 }, 65_792, 1],
      [{ level: 2, index: 0 }, 65_535, 0],
      [{ level: 2, index: 0 }, 65_536, 1],
      [{ level: 2, index: 0 }, 2 ** 24, 256],
      [{ level: 6, index: 0 }, Number.MAX_SAFE_INTEGER, 31],
    ];
    for (const [id, size, width] of cases) assert.equal(tileWidthAt(id, size), width, `${tileKey(id)} at ${size}`);
  });

  it('edgeTileIds lists the partial tiles on the right edge, lowest level first', () => {
    assert.deepEqual(edgeTileIds(0), []);
    assert.deepEqual(edgeTileIds(1), [{ level: 0, index: 0 }]);
    assert.deepEqual(edgeTileIds(256), [{ level: 1, index: 0 }]);
    assert.deepEqual(edgeTileIds(257), [
      { level: 0, index: 1 },
      { level: 1, index: 0 },
    ]);
    assert.deepEqual(edgeTileIds(65_535), [
      { level: 0, index: 255 },
      { level: 1, index: 0 },
    ]);
    assert.deepEqual(edgeTileIds(65_536), [{ level: 2, index: 0 }]);
    assert.deepEqual(edgeTileIds(65_537), [
      { level: 0, index: 256 },
      { level: 2, index: 0 },
    ]);
  });

  it('rejects sizes and tile ids that are not non-negative safe integers', () => {
    assert.throws(() => tileWidthAt({ level: 0, index: 0 }, -1), RangeError);
    assert.throws(() => tileWidthAt({ level: 0, index: 0 }, 2 ** 53), RangeError);
    assert.throws(() => tileWidthAt({ level: -1, index: 0 }, 5), RangeError);
    assert.throws(() => tileWidthAt({ level: 0, index: 0.5 }, 5), RangeError);
    assert.throws(() => edgeTileIds(1.5), RangeError);
  });
});

describe('computeTileUpdates', () => {
  it('from an empty tree: nothing for no leaves, one partial tile for one leaf', () => {
    const [leaf] = randomHashes(mulberry32(1), 1);
    assert.deepEqual(computeTileUpdates(0, new Map(), []), { tiles: [], newSize: 0 });
    const update = computeTileUpdates(0, new Map(), [leaf!]);
    assert.equal(update.newSize, 1);
    assert.deepEqual(update.tiles, [{ id: { level: 0, index: 0 }, hashes: [leaf] }]);
  });

  it('65,500 + 100 leaves fills level-0 tile 255 and level-1 tile 0 and starts level 2', () => {
    const leaves = randomHashes(mulberry32(2), 65_600);
    const levels = nodeLevelsFromScratch(leaves);
    const store = new MemoryTileStore();
    store.append(leaves.slice(0, 65_500));
    const changed = store.append(leaves.slice(65_500));
    assert.deepEqual(
      changed.map(({ id, hashes }) => [tileKey(id), hashes.length]),
      [
        ['0/255', 256],
        ['0/256', 64],
        ['1/0', 256],
        ['2/0', 1],
      ],
    );
    for (const { id, hashes } of changed) assert.deepEqual(hex(hashes), hex(expectedTile(levels, id, 65_600)));
    assert.deepEqual(hex(changed[3]!.hashes), hex([rootFromLeafHashes(leaves.slice(0, 65_536))]));
  });

  for (const seed of [11, 12]) {
    it(`random chunks (seed ${seed}) produce exactly the changed tiles, equal to tiles from scratch`, () => {
      const rand = mulberry32(seed);
      const leaves = randomHashes(rand, FIXTURE_SIZE);
      const levels = nodeLevelsFromScratch(leaves);
      const store = buildChecked(leaves, levels, randomChunks(rand, FIXTURE_SIZE));
      const expected = expectedTilesAt(levels, FIXTURE_SIZE);
      assert.deepEqual([...store.tiles.keys()].sort(), [...expected.keys()].sort());
      for (const [key, hashes] of expected) assert.deepEqual(hex(store.tiles.get(key)!), hex(hashes), key);
      assert.ok(store.tiles.has('2/0'), 'the tree reached level 2');
    });
  }

  it('chunks that stop at every edge size produce tiles equal to tiles from scratch', () => {
    const leaves = randomHashes(mulberry32(13), FIXTURE_SIZE);
    const levels = nodeLevelsFromScratch(leaves);
    const store = buildChecked(leaves, levels, chunksThrough([...EDGE_SIZES, 65_792, FIXTURE_SIZE]));
    const expected = expectedTilesAt(levels, FIXTURE_SIZE);
    assert.deepEqual([...store.tiles.keys()].sort(), [...expected.keys()].sort());
    for (const [key, hashes] of expected) assert.deepEqual(hex(store.tiles.get(key)!), hex(hashes), key);
  });

  it('cuts an edge tile given longer than its width at oldSize', () => {
    const leaves = randomHashes(mulberry32(14), 300);
    const grown = leaves.slice(0, 256);
    const update = computeTileUpdates(10, new Map([['0/0', grown]]), leaves.slice(10, 12));
    assert.deepEqual(hex(update.tiles[0]!.hashes), hex(leaves.slice(0, 12)));
  });

  it('rejects a missing or short edge tile, bad leaf hashes and bad sizes', () => {
    const leaves = randomHashes(mulberry32(15), 300);
    assert.throws(() => computeTileUpdates(10, new Map(), leaves.slice(0, 1)), RangeError);
    assert.throws(() => computeTileUpdates(10, new Map([['0/0', leaves.slice(0, 9)]]), leaves.slice(0, 1)), RangeError);
    assert.throws(() => computeTileUpdates(0, new Map(), [Buffer.alloc(31)]), RangeError);
    assert.throws(() => computeTileUpdates(-1, new Map(), []), RangeError);
    assert.throws(() => computeTileUpdates(Number.MAX_SAFE_INTEGER, new Map(), leaves.slice(0, 1)), RangeError);
  });
});

describe('tiled hashes and proofs', () => {
  it('readNodeHashes and tiledRangeHash equal MTH of the leaves below, at every height', async () => {
    const f = getFixture();
    const rand = mulberry32(21);
    const reader = f.store.reader('snapshot');
    const nodes = [];
    for (let height = 0; height <= 16; height++) {
      const count = Math.floor(FIXTURE_SIZE / 2 ** height);
      nodes.push({ height, index: 0 }, { height, index: count - 1 }, { height, index: randomInt(rand, 0, count - 1) });
    }
    const hashes = await readNodeHashes(reader, FIXTURE_SIZE, nodes);
    assert.equal(reader.calls, 1);
    nodes.forEach(({ height, index }, i) => {
      const start = index * 2 ** height;
      const expected = rootFromLeafHashes(f.leaves.slice(start, start + 2 ** height));
      assert.deepEqual(hex([hashes[i]!]), hex([expected]), `node ${height}/${index}`);
    });

    const ranges: [number, number, number][] = [
      [FIXTURE_SIZE, 0, FIXTURE_SIZE],
      [FIXTURE_SIZE, 65_536, FIXTURE_SIZE],
      [FIXTURE_SIZE, 65_536, 65_536 + 300],
      [FIXTURE_SIZE, 256, 512],
      [FIXTURE_SIZE, 4096, 4096 + 2_049],
      [65_537, 0, 65_537],
      [1_000, 768, 1_000],
      [3, 2, 3],
    ];
    for (const [size, start, end] of ranges) {
      reader.reset();
      const expected = rootFromLeafHashes(f.leaves.slice(start, end));
      assert.deepEqual(hex([await tiledRangeHash(reader, size, start, end)]), hex([expected]), `[${start}, ${end})`);
      assert.equal(reader.calls, 1);
    }
  });

  it('inclusion and consistency proofs and roots at edge sizes equal merkle.ts and verify', async () => {
    const f = getFixture();
    const rand = mulberry32(22);
    const reader = f.store.reader('snapshot');
    for (const size of EDGE_SIZES) {
      const indexes = [0, size - 1, randomInt(rand, 0, size - 1), Math.min(size - 1, 256)];
      // The array-based proofs cost O(size) each, so take the two nearest smaller edge sizes as old sizes.
      const olds = [1, size, randomInt(rand, 1, size), ...EDGE_SIZES.filter((s) => s < size).slice(-2)];
      await checkAgainstArrays(f, reader, size, [...new Set(indexes)], [...new Set(olds)]);
    }
    // Edge sizes as the old tree of a consistency proof.
    await checkAgainstArrays(f, reader, FIXTURE_SIZE, [FIXTURE_SIZE - 1], EDGE_SIZES);
  });

  it('inclusion and consistency proofs and roots at random sizes equal merkle.ts and verify', async () => {
    const f = getFixture();
    const rand = mulberry32(23);
    const reader = f.store.reader('snapshot');
    for (let round = 0; round < 24; round++) {
      const size = randomInt(rand, 1, round % 2 === 0 ? FIXTURE_SIZE : 3_000);
      await checkAgainstArrays(f, reader, size, [randomInt(rand, 0, size - 1)], [randomInt(rand, 1, size)]);
    }
  });

  it('tiles that grew after treeSize do not change proofs or roots at the older size', async () => {
    const rand = mulberry32(24);
    const leaves = randomHashes(rand, FIXTURE_SIZE);
    const store = new MemoryTileStore();
    const recorded: { size: number; index: number; size1: number; values: string[][] }[] = [];
    const tiledAt = async (reader: TileReader, size: number, index: number, size1: number): Promise<string[][]> => [
      hex([await tiledRoot(reader, size)]),
      hex(await tiledInclusionProof(reader, index, size)),
      hex(await tiledConsistencyProof(reader, size1, size)),
    ];
    for (const chunk of randomChunks(rand, 66_000)) {
      store.append(leaves.slice(store.size, store.size + chunk));
      if (store.size === 0) continue;
      const index = randomInt(rand, 0, store.size - 1);
      const size1 = randomInt(rand, 1, store.size);
      const values = await tiledAt(store.reader('latest'), store.size, index, size1);
      recorded.push({ size: store.size, index, size1, values });
    }
    store.append(leaves.slice(store.size));
    assert.equal(store.size, FIXTURE_SIZE);

    const reader = store.reader('latest');
    for (const { size, index, size1, values } of recorded) {
      assert.deepEqual(await tiledAt(reader, size, index, size1), values, `at ${size} after growing to ${store.size}`);
    }
    assert.ok(reader.grownTilesReturned > 0, 'the reader handed out tiles longer than needed');
    // And the recorded values are the right ones, for a sample (the array-based proofs cost O(n) each).
    const every = Math.ceil(recorded.length / 6);
    for (const { size, index, size1, values } of recorded.filter((_, i) => i % every === 0)) {
      assert.deepEqual(values, [
        hex([rootFromLeafHashes(leaves, size)]),
        hex(inclusionProof(leaves, index, size)),
        hex(consistencyProof(leaves, size1, size)),
      ]);
    }
  });

  it('the empty tree, one-leaf trees and equal sizes need no reads', async () => {
    const f = getFixture();
    const reader = f.store.reader('snapshot');
    assert.deepEqual(await tiledRoot(reader, 0), emptyRoot());
    assert.deepEqual(await tiledInclusionProof(reader, 0, 1), []);
    assert.deepEqual(await tiledConsistencyProof(reader, 500, 500), []);
    assert.deepEqual(await readNodeHashes(reader, 500, []), []);
    assert.equal(reader.calls, 0);
  });

  it('rejects out-of-range arguments with RangeError, like merkle.ts', async () => {
    const f = getFixture();
    const reader = f.store.reader('snapshot');
    await assert.rejects(tiledInclusionProof(reader, 5, 5), RangeError);
    await assert.rejects(tiledInclusionProof(reader, -1, 5), RangeError);
    await assert.rejects(tiledInclusionProof(reader, 0, 0), RangeError);
    await assert.rejects(tiledInclusionProof(reader, 0.5, 5), RangeError);
    await assert.rejects(tiledConsistencyProof(reader, 0, 5), RangeError);
    await assert.rejects(tiledConsistencyProof(reader, 6, 5), RangeError);
    await assert.rejects(tiledConsistencyProof(reader, 1, 2 ** 53), RangeError);
    await assert.rejects(tiledRoot(reader, -1), RangeError);
    await assert.rejects(tiledRangeHash(reader, 8, 1, 3), RangeError, 'not aligned to a subtree');
    await assert.rejects(tiledRangeHash(reader, 8, 4, 4), RangeError, 'empty');
    await assert.rejects(tiledRangeHash(reader, 8, 4, 9), RangeError, 'beyond the tree');
    await assert.rejects(readNodeHashes(reader, 255, [{ height: 8, index: 0 }]), RangeError, 'incomplete node');
    await assert.rejects(readNodeHashes(reader, 256, [{ height: 3, index: 32 }]), RangeError, 'incomplete node');
    assert.equal(reader.calls, 0);
  });

  it('rejects a reader that returns a tile too short for treeSize', async () => {
    const f = getFixture();
    const short: TileReader = {
      readTiles: async (ids) => ids.map((id) => (f.store.tiles.get(tileKey(id)) ?? []).slice(0, 3)),
    };
    const lacks = /tile 0\/0 read at tree size 1000 lacks 32-byte hashes at 11..11/;
    await assert.rejects(tiledInclusionProof(short, 10, 1_000), lacks);
    const missing: TileReader = { readTiles: async () => [] };
    await assert.rejects(tiledRoot(missing, 1_000), /readTiles returned 0 tiles/);
  });
});

describe('a million leaves', () => {
  it('a tiled inclusion proof verifies against the MerkleTreeBuilder root', async () => {
    const size = 1_000_000;
    const rand = mulberry32(31);
    const store = new MemoryTileStore();
    const builder = new MerkleTreeBuilder();
    let started = performance.now();
    const leaves = randomHashes(rand, size);
    for (let appended = 0; appended < size; ) {
      const chunk = Math.min(randomInt(rand, 1, 100_000), size - appended);
      store.append(leaves.slice(appended, appended + chunk));
      appended += chunk;
    }
    const tilesMs = performance.now() - started;
    for (const leaf of leaves) builder.append(leaf);
    const root = builder.root();

    const reader = store.reader('snapshot');
    const index = randomInt(rand, 0, size - 1);
    started = performance.now();
    const proof = await tiledInclusionProof(reader, index, size);
    const proofMs = performance.now() - started;
    assert.equal(verifyInclusion(leaves[index]!, index, size, proof, root), true);
    assert.equal(reader.calls, 1);

    started = performance.now();
    const consistency = await tiledConsistencyProof(reader, 654_321, size);
    const consistencyMs = performance.now() - started;
    const root1 = await tiledRoot(reader, 654_321);
    assert.equal(verifyConsistency(654_321, size, consistency, root1, root), true);
    assert.deepEqual(await tiledRoot(reader, size), root);
    console.log(
      `1,000,000 leaves: tiles built in ${tilesMs.toFixed(0)} ms; tiled inclusion proof of leaf ${index} ` +
        `in ${proofMs.toFixed(2)} ms (${proof.length} hashes); consistency proof from 654,321 in ` +
        `${consistencyMs.toFixed(2)} ms`,
    );
  });
});
