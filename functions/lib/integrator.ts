/**
 * The integrator turns durable batches into the verifiable log. One step:
 *
 *   read state ── read next batches ── link entries into session chains, give indexes
 *        │                                        │
 *        │                  write ledger items (BatchWriteItem, idempotent)   ← crash: rerun rewrites the same items
 *        │                                        │
 *        │                  write changed tiles (PutItem, never shorter)      ← crash: rerun rewrites the same tiles
 *        │                                        │
 *        └──────── conditional update of state (version must not have moved)  ← the step's commit point
 *
 * Everything a step writes before its commit point is a pure function of (state, batches),
 * so a step that dies anywhere is repaired by running it again, and two integrators racing
 * write the same bytes; only one of them moves the state. A tile is never replaced by a
 * shorter one, which a step begun before a longer step committed would write. A session's
 * chain head is found as the last ledger item *below* the step's first index, so a
 * half-written earlier attempt cannot leak into it.
 */
import { BatchWriteItemCommand, ConditionalCheckFailedException, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { WardenError } from '../../core/errors.js';
import { GENESIS_HASH, sealEntry, sha256Hex } from '../../core/ledger/entry.js';
import { MerkleTreeBuilder, leafHash } from '../../core/ledger/merkle.js';
import { computeTileUpdates, edgeTileIds, tileKey } from '../../core/ledger/tiles.js';
import type { BatchBody } from './batch-writer.js';
import { crashPoint } from './crash-points.js';
import { LedgerReader, STATE_ITEM, backoff, type IntegrationState } from './ledger-reader.js';
import { storeCall, storeUnavailable } from './store-errors.js';

export interface IntegrationResult {
  readonly batches: number;
  readonly entries: number;
  readonly size: number;
}

/** A step also stops at DynamoDB's 1 MB query page, so this bounds small batches only. */
const BATCHES_PER_STEP = 200;
const PARALLEL_WRITES = 4;

type ChainHead = { readonly seq: number; readonly hash: string };

export class Integrator {
  /** Session heads as of the last step this integrator committed; saves a query per session per step. */
  private committedHeads = new Map<string, ChainHead>();
  private committedSize = -1;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly reader: LedgerReader,
  ) {}

  /**
   * Integrates everything durable so far. A step that loses the race to another integrator
   * goes on from the state the other one committed, so this returns only once no durable batch
   * is left. A lost race means another integrator moved the state, so losing never outlasts the
   * backlog; a commit refused twice from the same state version is no race but a state item
   * this code did not write, and stops integration instead of spinning.
   */
  async integrateAll(): Promise<IntegrationResult> {
    let total = { batches: 0, entries: 0, size: 0 };
    let previousLossFrom: number | undefined;
    for (;;) {
      const { result, lostRaceFrom } = await this.attemptStep();
      total = { batches: total.batches + result.batches, entries: total.entries + result.entries, size: result.size };
      if (lostRaceFrom === undefined) {
        if (result.batches === 0) return total;
      } else if (lostRaceFrom === previousLossFrom) {
        throw new WardenError('CHAIN_CONFLICT', `the integration state stays at version ${lostRaceFrom} but refuses its conditional update: the store was altered; integration stopped`);
      }
      previousLossFrom = lostRaceFrom;
    }
  }

  /** One step: up to BATCHES_PER_STEP batches. A lost race with another integrator integrates nothing. */
  async step(): Promise<IntegrationResult> {
    return (await this.attemptStep()).result;
  }

  /** A step, and the state version it started from when its commit lost the race. */
  private async attemptStep(): Promise<{ result: IntegrationResult; lostRaceFrom?: number }> {
    const state = await this.reader.state();
    const batches = await this.reader.batchesAfter(state.batches, BATCHES_PER_STEP);
    if (batches.length === 0) return { result: { batches: 0, entries: 0, size: state.size } };

    const tree = MerkleTreeBuilder.restore(state.size, state.subtreeRoots);
    // Heads cached from our own last commit are valid only if nobody has integrated since.
    const known = this.committedSize === state.size ? this.committedHeads : new Map<string, ChainHead>();
    const heads = new Map<string, ChainHead>();
    const ledgerItems: Record<string, AttributeValue>[] = [];
    const leaves: Buffer[] = [];
    let previousBatch = { seq: state.batches, hash: state.batchHash };
    for (const batch of batches) {
      const body = this.openBatch(batch.seq, batch.body, batch.hash, previousBatch);
      for (const entry of body.entries) {
        const index = state.size + leaves.length;
        const head = heads.get(entry.session) ?? known.get(entry.session) ?? (await this.headBelow(entry.session, state.size));
        const sealed = sealEntry({ v: 1, ...entry, seq: head.seq + 1, prev: head.hash });
        heads.set(entry.session, { seq: sealed.seq, hash: sealed.hash });
        const leaf = leafHash(sealed.entry);
        tree.append(leaf);
        leaves.push(leaf);
        ledgerItems.push({
          session: { S: sealed.session },
          seq: { N: String(sealed.seq) },
          entry: { S: sealed.entry },
          hash: { S: sealed.hash },
          index: { N: String(index) },
          id: { S: entry.id },
          batch: { N: String(batch.seq) },
        });
      }
      previousBatch = { seq: batch.seq, hash: batch.hash };
    }

    await this.writeAll(this.reader.names.ledger, ledgerItems);
    crashPoint('integrator:after-ledger');
    await this.writeTiles(state.size, leaves);
    crashPoint('integrator:after-tiles');
    const next: IntegrationState = {
      version: state.version + 1,
      size: tree.size,
      batches: previousBatch.seq,
      batchHash: previousBatch.hash,
      subtreeRoots: tree.subtreeRoots,
      root: tree.root(),
    };
    if (!(await this.commit(state, next))) {
      this.committedSize = -1;
      return { result: { batches: 0, entries: 0, size: state.size }, lostRaceFrom: state.version };
    }
    for (const [session, head] of heads) known.set(session, head);
    this.committedHeads = known;
    this.committedSize = next.size;
    crashPoint('integrator:after-state');
    return { result: { batches: batches.length, entries: leaves.length, size: next.size } };
  }

  /** A batch is integrated only if it is what its writer stored and it names the batch before it. */
  private openBatch(seq: number, text: string, hash: string, previous: { seq: number; hash: string }): BatchBody {
    if (sha256Hex(text) !== hash) throw new WardenError('CHAIN_CONFLICT', `batch ${seq} does not match its hash: the store was altered; integration stopped`);
    const body = JSON.parse(text) as BatchBody;
    if (body.seq !== seq || seq !== previous.seq + 1 || body.prev !== previous.hash) {
      throw new WardenError('CHAIN_CONFLICT', `batch ${seq} does not follow batch ${previous.seq}: the store was altered; integration stopped`);
    }
    return body;
  }

  /** The session's chain head among entries with an index below `firstIndex` of this step. */
  private async headBelow(session: string, firstIndex: number): Promise<ChainHead> {
    for await (const entry of this.reader.sessionEntries(session, true, 4)) {
      if (entry.index < firstIndex) return { seq: entry.seq, hash: entry.hash };
    }
    return { seq: -1, hash: GENESIS_HASH };
  }

  private async writeTiles(oldSize: number, leaves: readonly Buffer[]): Promise<void> {
    const edgeIds = edgeTileIds(oldSize);
    const edgeContent = await this.reader.readTiles(edgeIds);
    // A tile may already hold hashes from an attempt that died before its commit; computeTileUpdates uses only what oldSize covers.
    const edges = new Map(edgeIds.map((id, i) => [tileKey(id), edgeContent[i]!]));
    const { tiles } = computeTileUpdates(oldSize, edges, leaves);
    await inParallel(tiles, ({ id, hashes }) => this.putTileUnlessLonger(tileKey(id), Buffer.concat(hashes)));
  }

  /**
   * A tile only grows. An integrator that read the state before another one committed a longer
   * step computes shorter tiles; written over the committed ones they would cut leaves off the
   * stored tree. Every hash in a tile is a pure function of the batches, so a tile at least as
   * long already holds what this write would put there.
   */
  private async putTileUnlessLonger(key: string, bytes: Buffer): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.reader.names.tiles,
          Item: { tile: { S: key }, hashes: { B: bytes } },
          ConditionExpression: 'attribute_not_exists(#hashes) OR size(#hashes) <= :bytes',
          ExpressionAttributeNames: { '#hashes': 'hashes' },
          ExpressionAttributeValues: { ':bytes': { N: String(bytes.length) } },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw storeUnavailable(error);
    }
  }

  /** BatchWriteItem in chunks of 25 (its limit), a few chunks in flight, retrying unprocessed items. */
  private async writeAll(table: string, items: readonly Record<string, AttributeValue>[]): Promise<void> {
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })));
    const writeChunk = async (chunk: WriteRequest[]) => {
      let requests = chunk;
      for (let round = 0; requests.length > 0; round += 1) {
        const result = await storeCall(() => this.client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } })));
        requests = result.UnprocessedItems?.[table] ?? [];
        if (requests.length > 0) await backoff(round);
      }
    };
    await inParallel(chunks, writeChunk);
  }

  private async commit(previous: IntegrationState, next: IntegrationState): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.reader.names.log,
          Key: { name: { S: STATE_ITEM } },
          UpdateExpression: 'SET #version = :next, #size = :size, #batches = :batches, #batchHash = :batchHash, #roots = :roots, #root = :root',
          ConditionExpression: previous.version === 0 ? 'attribute_not_exists(#version)' : '#version = :previous',
          ExpressionAttributeNames: { '#version': 'version', '#size': 'size', '#batches': 'batches', '#batchHash': 'batchHash', '#roots': 'roots', '#root': 'root' },
          ExpressionAttributeValues: {
            ':next': { N: String(next.version) },
            ':size': { N: String(next.size) },
            ':batches': { N: String(next.batches) },
            ':batchHash': { S: next.batchHash },
            ':roots': { B: Buffer.concat(next.subtreeRoots) },
            ':root': { S: next.root.toString('hex') },
            ...(previous.version === 0 ? {} : { ':previous': { N: String(previous.version) } }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw storeUnavailable(error);
    }
  }
}

/** Runs `write` on every item, PARALLEL_WRITES at a time. */
async function inParallel<T>(items: readonly T[], write: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await write(items[next++]!);
  };
  await Promise.all(Array.from({ length: PARALLEL_WRITES }, lane));
}
