import {
  HASH_SIZE,
  MerkleTreeBuilder,
  consistencyProofRanges,
  emptyRoot,
  inclusionProofRanges,
  isHash,
  isNonNegativeSafeInteger,
  requireTreeSize,
  rootFromLeafHashes,
  type LeafRange,
} from './merkle.js';

// RFC 9162 Merkle tree hashes stored as tiles in the layout of C2SP tlog-tiles (c2sp.org/tlog-tiles).
// A tile at level L, index N holds the hashes of nodes N*256 .. N*256+255 at height 8L, i.e. the bottom
// row of one height-8 subtree; level 0 holds leaf hashes. Only complete (perfect) subtrees are stored,
// so a tile on the right edge is partial and only grows by appending. Pure math: storage sits behind
// TileReader. The proofs take their RFC 9162 walks from merkle.ts (inclusionProofRanges,
// consistencyProofRanges) and hash each range from tiles. Like merkle.ts, sizes and indexes are numbers
// up to 2^53 - 1 and no 32-bit bitwise operators are used.

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

export interface TileId {
  level: number;
  index: number;
}

/** A node of the tree: the perfect subtree over leaves [index * 2^height, (index + 1) * 2^height). */
export interface NodeId {
  height: number;
  index: number;
}

export interface TileReader {
  /**
   * For each id, the hashes stored in that tile at `treeSize`, in order. A tile may have grown since and
   * be returned longer; callers only use its first tileWidthAt(id, treeSize) entries.
   */
  readTiles(ids: readonly TileId[], treeSize: number): Promise<Buffer[][]>;
}

/** The `${level}/${index}` key of a tile (c2sp.org/tlog-tiles paths without the x-prefixed encoding). */
export function tileKey(id: TileId): string {
  return `${id.level}/${id.index}`;
}

/** c2sp.org/tlog-tiles: how many hashes tile `id` holds at `treeSize` (0 if it does not exist yet, 256 if full). */
export function tileWidthAt(id: TileId, treeSize: number): number {
  requireTileId(id);
  requireTreeSize(treeSize);
  const complete = nodesAtLevel(treeSize, id.level) - id.index * TILE_WIDTH;
  return Math.min(Math.max(complete, 0), TILE_WIDTH);
}

/** The partial (width 1..255) right-edge tiles at `size`, lowest level first: what computeTileUpdates needs. */
export function edgeTileIds(size: number): TileId[] {
  requireTreeSize(size);
  const ids: TileId[] = [];
  for (let level = 0, count = size; count > 0; level++, count = Math.floor(count / TILE_WIDTH)) {
    if (count % TILE_WIDTH !== 0) ids.push({ level, index: Math.floor(count / TILE_WIDTH) });
  }
  return ids;
}

/**
 * Appends `newLeafHashes` to the tiles of a tree of `oldSize` leaves and returns the full new content of
 * every tile that changes. `edgeTiles` maps tileKey(id) to the content of each tile in edgeTileIds(oldSize)
 * (longer content is cut to its width at oldSize).
 */
export function computeTileUpdates(
  oldSize: number,
  edgeTiles: ReadonlyMap<string, Buffer[]>,
  newLeafHashes: readonly Buffer[],
): { tiles: { id: TileId; hashes: Buffer[] }[]; newSize: number } {
  requireTreeSize(oldSize);
  if (newLeafHashes.length > Number.MAX_SAFE_INTEGER - oldSize) throw new RangeError('tree size limit reached');
  newLeafHashes.forEach((hash, i) => {
    if (!isHash(hash)) throw new RangeError(`new leaf hash ${i} is not a ${HASH_SIZE}-byte hash`);
  });
  const tiles: { id: TileId; hashes: Buffer[] }[] = [];
  // Each level's appended nodes are the roots of the tiles one level below that this append fills.
  let appended: readonly Buffer[] = newLeafHashes;
  let count = oldSize;
  for (let level = 0; appended.length > 0; level++, count = Math.floor(count / TILE_WIDTH)) {
    const filled: Buffer[] = [];
    for (let taken = 0; taken < appended.length; ) {
      const position = count + taken;
      const id = { level, index: Math.floor(position / TILE_WIDTH) };
      const offset = position % TILE_WIDTH;
      const hashes = offset === 0 ? [] : edgeTilePrefix(edgeTiles, id, offset);
      const take = Math.min(TILE_WIDTH - offset, appended.length - taken);
      for (let i = taken; i < taken + take; i++) hashes.push(appended[i]!);
      taken += take;
      tiles.push({ id, hashes });
      if (hashes.length === TILE_WIDTH) filled.push(rootFromLeafHashes(hashes));
    }
    appended = filled;
  }
  return { tiles, newSize: oldSize + newLeafHashes.length };
}

/**
 * RFC 9162 §2.1.1: the hash of each complete node at `treeSize`, in one readTiles call. A node at height
 * 8L + r with r > 0 is MTH of its 2^r descendants at height 8L, which lie in one level-L tile.
 */
export async function readNodeHashes(
  reader: TileReader,
  treeSize: number,
  nodes: readonly NodeId[],
): Promise<Buffer[]> {
  requireTreeSize(treeSize);
  const ids: TileId[] = [];
  const slotOfKey = new Map<string, number>();
  const plans = nodes.map((node) => {
    requireCompleteNode(node, treeSize);
    const level = Math.floor(node.height / TILE_HEIGHT);
    const span = 2 ** (node.height - level * TILE_HEIGHT);
    const first = node.index * span;
    const id = { level, index: Math.floor(first / TILE_WIDTH) };
    const key = tileKey(id);
    let slot = slotOfKey.get(key);
    if (slot === undefined) {
      slot = ids.push(id) - 1;
      slotOfKey.set(key, slot);
    }
    return { slot, id, offset: first % TILE_WIDTH, span };
  });
  if (ids.length === 0) return [];
  const tiles = await reader.readTiles(ids, treeSize);
  if (!Array.isArray(tiles) || tiles.length !== ids.length) {
    throw new Error(`readTiles returned ${Array.isArray(tiles) ? tiles.length : 'no'} tiles for ${ids.length} ids`);
  }
  return plans.map(({ slot, id, offset, span }) => {
    const tile = tiles[slot]!;
    const entries = Array.isArray(tile) ? tile.slice(offset, offset + span) : [];
    if (entries.length !== span || !entries.every(isHash)) {
      const wanted = `${HASH_SIZE}-byte hashes at ${offset}..${offset + span - 1}`;
      throw new Error(`tile ${tileKey(id)} read at tree size ${treeSize} lacks ${wanted}`);
    }
    return span === 1 ? Buffer.from(entries[0]!) : rootFromLeafHashes(entries);
  });
}

/**
 * RFC 9162 §2.1.1: MTH(D[start:end]) for an aligned range, the only kind RFC 9162 proofs use: start is a
 * multiple of the smallest power of two >= end - start, so the range is a subtree of the tree.
 */
export async function tiledRangeHash(
  reader: TileReader,
  treeSize: number,
  start: number,
  end: number,
): Promise<Buffer> {
  requireTreeSize(treeSize);
  return (await rangeHashes(reader, treeSize, [[start, end]]))[0]!;
}

/** RFC 9162 §2.1.1: MTH(D[0:treeSize]). */
export async function tiledRoot(reader: TileReader, treeSize: number): Promise<Buffer> {
  requireTreeSize(treeSize);
  if (treeSize === 0) return emptyRoot();
  return (await rangeHashes(reader, treeSize, [[0, treeSize]]))[0]!;
}

/** RFC 9162 §2.1.3.1: PATH(index, D[0:treeSize]), leaf's sibling first; equals merkle.ts inclusionProof. */
export async function tiledInclusionProof(reader: TileReader, index: number, treeSize: number): Promise<Buffer[]> {
  return rangeHashes(reader, treeSize, inclusionProofRanges(index, treeSize));
}

/** RFC 9162 §2.1.4.1: PROOF(size1, D[0:size2]); requires 0 < size1 <= size2; equals merkle.ts consistencyProof. */
export async function tiledConsistencyProof(reader: TileReader, size1: number, size2: number): Promise<Buffer[]> {
  return rangeHashes(reader, size2, consistencyProofRanges(size1, size2));
}

/** MTH of each aligned range, reading every node they need in one readNodeHashes call. */
async function rangeHashes(reader: TileReader, treeSize: number, ranges: readonly LeafRange[]): Promise<Buffer[]> {
  const nodesPerRange = ranges.map(([start, end]) => perfectSubtrees(start, end, treeSize));
  const hashes = await readNodeHashes(reader, treeSize, nodesPerRange.flat());
  let next = 0;
  // An aligned range is a tree of its own whose compact range is exactly these subtree roots.
  return ranges.map(([start, end], i) => {
    const roots = hashes.slice(next, (next += nodesPerRange[i]!.length));
    return MerkleTreeBuilder.restore(end - start, roots).root();
  });
}

/** The perfect subtrees RFC 9162 §2.1.1 splits the aligned range [start, end) into, largest first. */
function perfectSubtrees(start: number, end: number, treeSize: number): NodeId[] {
  if (!isNonNegativeSafeInteger(start) || !isNonNegativeSafeInteger(end) || start >= end || end > treeSize) {
    throw new RangeError(`leaf range [${start}, ${end}) is not a non-empty range within tree size ${treeSize}`);
  }
  const length = end - start;
  if (start % smallestPowerOfTwoAtLeast(length) !== 0) {
    throw new RangeError(`leaf range [${start}, ${end}) is not aligned to a subtree of the tree`);
  }
  const nodes: NodeId[] = [];
  let offset = start;
  for (let height = Math.floor(Math.log2(length)) + 1; height >= 0; height--) {
    const size = 2 ** height;
    if (Math.floor(length / size) % 2 === 1) {
      nodes.push({ height, index: offset / size });
      offset += size;
    }
  }
  return nodes;
}

function edgeTilePrefix(edgeTiles: ReadonlyMap<string, Buffer[]>, id: TileId, width: number): Buffer[] {
  const prefix = edgeTiles.get(tileKey(id))?.slice(0, width) ?? [];
  if (prefix.length !== width || !prefix.every(isHash)) {
    throw new RangeError(`edge tile ${tileKey(id)} must hold at least ${width} ${HASH_SIZE}-byte hashes`);
  }
  return prefix;
}

/** The number of complete nodes at height 8 * level in a tree of `size` leaves. */
function nodesAtLevel(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

function requireCompleteNode(node: NodeId, treeSize: number): void {
  const { height, index } = node;
  const complete = isNonNegativeSafeInteger(height) && isNonNegativeSafeInteger(index);
  if (!complete || index >= Math.floor(treeSize / 2 ** height)) {
    throw new RangeError(`node at height ${height}, index ${index} is not a complete subtree of tree size ${treeSize}`);
  }
}

function requireTileId(id: TileId): void {
  if (!isNonNegativeSafeInteger(id.level) || !isNonNegativeSafeInteger(id.index)) {
    throw new RangeError(`tile level ${id.level}, index ${id.index} is not a tile`);
  }
}

function smallestPowerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
