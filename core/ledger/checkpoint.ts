import { LedgerError } from './errors.js';
import { HASH_SIZE } from './merkle.js';

// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed-note text that states a log's tree head.
// Tree sizes are JavaScript numbers here, so checkpoints above 2^53 - 1 leaves are rejected.

export interface Checkpoint {
  /** Unique identifier of the log; the spec only requires it to be non-empty. */
  readonly origin: string;
  readonly size: number;
  /** RFC 9162 §2.1.1 root hash (MTH) of the tree at `size`. */
  readonly rootHash: Buffer;
  /** Opaque, non-empty lines after the root hash; allowed but NOT RECOMMENDED by the spec. */
  readonly extensionLines: readonly string[];
}

export interface CheckpointFields {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensionLines?: readonly string[];
}

const TREE_SIZE = /^(?:0|[1-9][0-9]*)$/;

/** Formats `origin\nsize\nbase64(rootHash)\n` followed by any extension lines. */
export function formatCheckpoint({ origin, size, rootHash, extensionLines = [] }: CheckpointFields): string {
  if (!isNonEmptyLine(origin)) throw malformedCheckpoint('the origin must be a non-empty single line');
  if (!Number.isSafeInteger(size) || size < 0) {
    throw malformedCheckpoint('the tree size must be an integer from 0 to 2^53 - 1');
  }
  if (rootHash.length !== HASH_SIZE) throw malformedCheckpoint(`the root hash must be ${HASH_SIZE} bytes`);
  if (!extensionLines.every(isNonEmptyLine)) {
    throw malformedCheckpoint('extension lines must be non-empty single lines');
  }
  const lines = [origin, String(size), Buffer.from(rootHash).toString('base64'), ...extensionLines];
  return lines.map((line) => `${line}\n`).join('');
}

/** Parses checkpoint text (the text of an opened note); throws LedgerError MALFORMED_CHECKPOINT. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw malformedCheckpoint('checkpoint text must end with a newline');
  const [origin = '', sizeLine = '', rootLine, ...extensionLines] = text.slice(0, -1).split('\n');
  if (rootLine === undefined) throw malformedCheckpoint('a checkpoint needs origin, tree size and root hash lines');
  if (origin === '') throw malformedCheckpoint('the origin line must not be empty');
  if (!TREE_SIZE.test(sizeLine)) throw malformedCheckpoint('the tree size must be decimal without leading zeros');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformedCheckpoint('tree sizes above 2^53 - 1 are not supported');
  const rootHash = Buffer.from(rootLine, 'base64');
  // Buffer's decoder is lenient, so only a canonical re-encoding proves the line was standard base64.
  if (rootHash.length !== HASH_SIZE || rootHash.toString('base64') !== rootLine) {
    throw malformedCheckpoint(`the root hash line must be the base64 of ${HASH_SIZE} bytes`);
  }
  if (extensionLines.includes('')) throw malformedCheckpoint('extension lines must not be empty');
  return { origin, size, rootHash, extensionLines };
}

function isNonEmptyLine(line: string): boolean {
  return line !== '' && !line.includes('\n');
}

function malformedCheckpoint(message: string): LedgerError {
  return new LedgerError('MALFORMED_CHECKPOINT', message);
}
