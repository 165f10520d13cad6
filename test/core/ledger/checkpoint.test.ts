import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatCheckpoint, parseCheckpoint, type CheckpointFields } from '../../../core/ledger/checkpoint.js';
import { LedgerError, type LedgerErrorCode } from '../../../core/ledger/errors.js';
import { emptyRoot, leafHash, rootFromLeafHashes } from '../../../core/ledger/merkle.js';
import { openNote, parseSignerKey, parseVerifierKey, signNote } from '../../../core/ledger/signed-note.js';

interface CheckpointVector {
  desc: string;
  signed_note: string;
  verifier_keys: string[];
  extra_vkeys?: string[];
  origin: string;
  tree_size: number;
  root_hash_base64: string;
  root_hash_hex: string;
}
interface CheckpointBodyVector {
  desc: string;
  body: string;
  origin: string;
  tree_size: number;
  root_hash_hex: string;
  record_hex: string;
}
interface SignedNoteVectors {
  keys: { name: string; vkey: string }[];
  test_key_pairs: { pairs: { name: string; vkey: string; skey: string }[] };
  checkpoints: CheckpointVector[];
  checkpoint_bodies: CheckpointBodyVector[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../../fixtures/vectors/signed-note.json', import.meta.url), 'utf8'),
) as SignedNoteVectors;

function verifiersFor(vector: CheckpointVector) {
  const vkeys = [...vectors.keys.map((key) => key.vkey), ...(vector.extra_vkeys ?? [])];
  return vector.verifier_keys.map((name) => {
    const vkey = vkeys.find((candidate) => candidate.startsWith(`${name}+`));
    assert.ok(vkey, `no vkey for ${name}`);
    return parseVerifierKey(vkey);
  });
}

function expectLedgerError(run: () => unknown, code: LedgerErrorCode): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

describe('checkpoint vectors', () => {
  for (const vector of vectors.checkpoints) {
    it(`opens and parses: ${vector.desc}`, () => {
      const opened = openNote(vector.signed_note, verifiersFor(vector));
      assert.deepEqual(
        opened.verifiedSignatures.map((signature) => signature.name),
        vector.verifier_keys,
      );
      const checkpoint = parseCheckpoint(opened.text);
      assert.equal(checkpoint.origin, vector.origin);
      assert.equal(checkpoint.size, vector.tree_size);
      assert.equal(checkpoint.rootHash.toString('hex'), vector.root_hash_hex);
      assert.equal(checkpoint.rootHash.toString('base64'), vector.root_hash_base64);
      assert.deepEqual(checkpoint.extensionLines, []);
      assert.equal(formatCheckpoint(checkpoint), opened.text);
    });

    it(`rejects tampered text: ${vector.desc}`, () => {
      const sizeLine = `\n${vector.tree_size}\n`;
      const tamperedSize = vector.signed_note.replace(sizeLine, `\n${vector.tree_size + 1}\n`);
      const otherRoot = Buffer.from(vector.root_hash_hex, 'hex');
      otherRoot[0]! ^= 1;
      const tamperedRoot = vector.signed_note.replace(vector.root_hash_base64, otherRoot.toString('base64'));
      const rootLine = `${vector.root_hash_base64}\n`;
      const withExtension = vector.signed_note.replace(rootLine, `${rootLine}extra\n`);
      for (const tampered of [tamperedSize, tamperedRoot, withExtension]) {
        assert.notEqual(tampered, vector.signed_note);
        expectLedgerError(() => openNote(tampered, verifiersFor(vector)), 'BAD_SIGNATURE');
      }
    });
  }

  for (const vector of vectors.checkpoint_bodies) {
    it(`parses and re-formats the body: ${vector.desc}`, () => {
      const checkpoint = parseCheckpoint(vector.body);
      assert.equal(checkpoint.origin, vector.origin);
      assert.equal(checkpoint.size, vector.tree_size);
      assert.equal(checkpoint.rootHash.toString('hex'), vector.root_hash_hex);
      assert.equal(leafHash(Buffer.from(vector.record_hex, 'hex')).toString('hex'), vector.root_hash_hex);
      assert.equal(formatCheckpoint(checkpoint), vector.body);
    });
  }
});

describe('signing our own checkpoints', () => {
  const pair = vectors.test_key_pairs.pairs[0]!;
  const signer = parseSignerKey(pair.skey);
  const verifier = parseVerifierKey(pair.vkey);
  const leaves = ['a', 'b', 'c'].map((entry) => leafHash(Buffer.from(entry)));
  const fields: CheckpointFields = {
    origin: pair.name,
    size: leaves.length,
    rootHash: rootFromLeafHashes(leaves),
    extensionLines: ['an extension'],
  };

  it('round-trips through signNote, openNote and parseCheckpoint', async () => {
    const note = await signNote(formatCheckpoint(fields), [signer]);
    const checkpoint = parseCheckpoint(openNote(note, [verifier]).text);
    assert.equal(checkpoint.origin, fields.origin);
    assert.equal(checkpoint.size, fields.size);
    assert.ok(checkpoint.rootHash.equals(fields.rootHash));
    assert.deepEqual(checkpoint.extensionLines, fields.extensionLines);
  });

  it('fails verification once the signed text is changed', async () => {
    const note = await signNote(formatCheckpoint(fields), [signer]);
    const tampered = note.replace(`\n${fields.size}\n`, `\n${fields.size + 1}\n`);
    assert.notEqual(tampered, note);
    expectLedgerError(() => openNote(tampered, [verifier]), 'BAD_SIGNATURE');
  });

  it('accepts the empty tree', () => {
    const text = formatCheckpoint({ origin: pair.name, size: 0, rootHash: emptyRoot() });
    assert.equal(parseCheckpoint(text).size, 0);
  });
});

describe('malformed checkpoints', () => {
  const body = vectors.checkpoint_bodies[0]!;
  const [origin, size, root] = body.body.slice(0, -1).split('\n') as [string, string, string];
  const rootBytes = Buffer.from(root, 'base64');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // 32 bytes leave two unused low bits in the last base64 digit; setting one keeps the bytes but breaks canonical form.
  const lastDigit = root.at(-2)!;
  const nonCanonicalRoot = `${root.slice(0, -2)}${alphabet[alphabet.indexOf(lastDigit) | 1]}=`;
  const lines = (...parts: string[]) => parts.map((part) => `${part}\n`).join('');

  const cases: [string, string][] = [
    ['no final newline', body.body.slice(0, -1)],
    ['too few lines', lines(origin, size)],
    ['an empty origin', lines('', size, root)],
    ['a leading zero', lines(origin, `0${size}`, root)],
    ['a plus sign', lines(origin, `+${size}`, root)],
    ['a negative size', lines(origin, `-${size}`, root)],
    ['a padded size', lines(origin, ` ${size}`, root)],
    ['an exponent', lines(origin, '1e3', root)],
    ['a size above 2^53 - 1', lines(origin, '18446744073709551615', root)],
    ['a 31-byte root', lines(origin, size, rootBytes.subarray(1).toString('base64'))],
    ['a 33-byte root', lines(origin, size, Buffer.concat([rootBytes, Uint8Array.of(0)]).toString('base64'))],
    ['a non-canonical root', lines(origin, size, nonCanonicalRoot)],
    ['a base64url root', lines(origin, size, root.replaceAll('+', '-').replaceAll('/', '_'))],
    ['an unpadded root', lines(origin, size, root.replace(/=$/, ''))],
    ['an empty extension line', lines(origin, size, root, '')],
  ];
  for (const [desc, text] of cases) {
    it(`rejects a checkpoint with ${desc}`, () => {
      assert.notEqual(text, body.body);
      expectLedgerError(() => parseCheckpoint(text), 'MALFORMED_CHECKPOINT');
    });
  }

  it('checks that the non-canonical root still decodes to the same bytes', () => {
    assert.ok(Buffer.from(nonCanonicalRoot, 'base64').equals(rootBytes));
  });

  const good: CheckpointFields = { origin, size: Number(size), rootHash: rootBytes };
  const badFields: [string, CheckpointFields][] = [
    ['an empty origin', { ...good, origin: '' }],
    ['a multi-line origin', { ...good, origin: `${origin}\n${origin}` }],
    ['a negative size', { ...good, size: -1 }],
    ['a fractional size', { ...good, size: 1.5 }],
    ['an unsafe size', { ...good, size: 2 ** 53 }],
    ['a 31-byte root', { ...good, rootHash: rootBytes.subarray(1) }],
    ['an empty extension line', { ...good, extensionLines: [''] }],
  ];
  for (const [desc, fields] of badFields) {
    it(`refuses to format ${desc}`, () => {
      expectLedgerError(() => formatCheckpoint(fields), 'MALFORMED_CHECKPOINT');
    });
  }

  it('formats the fields of the vector body back to it', () => {
    assert.equal(formatCheckpoint(good), body.body);
  });
});
