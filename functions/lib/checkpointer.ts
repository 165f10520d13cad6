/**
 * Signs checkpoints (C2SP tlog-checkpoint in a C2SP signed note) of the integrated tree.
 *
 * MUST NOT sign a tree head that is not an append-only extension of the last one signed:
 * before signing size n2 it proves consistency with the stored checkpoint of size n1 from
 * the tiles, and checks the tiles' root against the integration state. A failed check
 * means the store was altered, and signing stops.
 */
import { ConditionalCheckFailedException, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from '../../core/ledger/checkpoint.js';
import { LedgerError } from '../../core/ledger/errors.js';
import { verifyConsistency } from '../../core/ledger/merkle.js';
import { openNote, parseVerifierKey, signNote, type Ed25519NoteSigner } from '../../core/ledger/signed-note.js';
import { tiledConsistencyProof, tiledRoot } from '../../core/ledger/tiles.js';
import type { EvidenceSink } from './evidence-sink.js';
import { CHECKPOINT_ITEM, type LedgerReader } from './ledger-reader.js';
import { storeUnavailable } from './store-errors.js';

export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly note: string;
  /** False when the tree had not grown and the last checkpoint was returned. */
  readonly signed: boolean;
}

export class Checkpointer {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly reader: LedgerReader,
    private readonly signer: Ed25519NoteSigner,
    private readonly origin: string,
    private readonly sink: EvidenceSink,
  ) {}

  /** Signs the current tree if it grew since the last checkpoint; returns the latest either way. */
  async checkpoint(): Promise<SignedCheckpoint | undefined> {
    const state = await this.reader.state();
    const latest = await this.latest();
    if (latest && latest.checkpoint.size === state.size) {
      if (!latest.checkpoint.rootHash.equals(state.root)) throw inconsistent(`the tree of size ${state.size} no longer has the signed root`);
      return { ...latest, signed: false };
    }
    if (state.size === 0) return undefined;
    if (latest && latest.checkpoint.size > state.size) {
      throw inconsistent(`the tree has ${state.size} entries but a checkpoint was signed for ${latest.checkpoint.size}`);
    }
    const tilesRoot = await tiledRoot(this.reader, state.size);
    if (!tilesRoot.equals(state.root)) throw inconsistent(`the stored tiles of size ${state.size} do not hash to the integrated root`);
    if (latest) {
      const proof = await tiledConsistencyProof(this.reader, latest.checkpoint.size, state.size);
      if (!verifyConsistency(latest.checkpoint.size, state.size, proof, latest.checkpoint.rootHash, state.root)) {
        throw inconsistent(`the tree of size ${state.size} is not an extension of the checkpoint of size ${latest.checkpoint.size}`);
      }
    }
    const checkpoint: Checkpoint = { origin: this.origin, size: state.size, rootHash: state.root, extensionLines: [] };
    const note = await signNote(formatCheckpoint(checkpoint), [this.signer]);
    await this.sink.put(`checkpoints/${String(state.size).padStart(20, '0')}.note`, note);
    await this.sink.put('checkpoints/latest.note', note, { replace: true });
    await this.store(state.size, note);
    return { checkpoint, note, signed: true };
  }

  async latest(): Promise<Omit<SignedCheckpoint, 'signed'> | undefined> {
    const stored = await this.reader.latestCheckpoint();
    if (!stored) return undefined;
    const opened = openNote(stored.note, [parseVerifierKey(this.signer.vkey)]);
    return { checkpoint: parseCheckpoint(opened.text), note: stored.note };
  }

  private async store(size: number, note: string): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.reader.names.log,
          Item: { name: { S: CHECKPOINT_ITEM }, size: { N: String(size) }, note: { S: note } },
          // Never replace a checkpoint with a smaller one, whoever signed it.
          ConditionExpression: 'attribute_not_exists(#name) OR #size < :size',
          ExpressionAttributeNames: { '#name': 'name', '#size': 'size' },
          ExpressionAttributeValues: { ':size': { N: String(size) } },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      throw storeUnavailable(error);
    }
  }
}

function inconsistent(message: string): LedgerError {
  return new LedgerError('INCONSISTENT_TREE', `${message}; refusing to sign`);
}
