import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LedgerError, type LedgerErrorCode } from '../../../core/ledger/errors.js';
import {
  MAX_NOTE_SIGNATURES,
  generateNoteKey,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteSigner,
  type NoteVerifier,
} from '../../../core/ledger/signed-note.js';

interface KeyVector {
  name: string;
  key_id: string;
  vkey: string;
  skey?: string;
  public_key_hex: string;
  seed_hex?: string;
}
interface NoteVector {
  desc: string;
  text: string;
  signed_note: string;
  verifier_keys: string[];
  verified_by: string[];
  unverified?: string[];
}
interface BadNoteVector {
  desc: string;
  verifier_keys: string[];
  source_error: string;
  signed_note?: string;
  signed_note_hex?: string;
  construct?: { text: string; blank_line: string; signature_line: string; repeat: number };
}
interface SignedNoteVectors {
  keys: KeyVector[];
  test_key_pairs: { pairs: KeyVector[] };
  notes: NoteVector[];
  bad_vkeys: { vkey: string; desc: string }[];
  bad_notes: BadNoteVector[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../../fixtures/vectors/signed-note.json', import.meta.url), 'utf8'),
) as SignedNoteVectors;

const allKeys = [...vectors.keys, ...vectors.test_key_pairs.pairs];
const keysWithSkey = allKeys.filter((key): key is KeyVector & { skey: string } => key.skey !== undefined);

function keyNamed(name: string): KeyVector {
  const key = allKeys.find((candidate) => candidate.name === name);
  assert.ok(key, `no key named ${name} in the vectors`);
  return key;
}

const verifiersFor = (names: readonly string[]): NoteVerifier[] =>
  names.map((name) => parseVerifierKey(keyNamed(name).vkey));

const describeSignature = (signature: { name: string; keyId: number }): string =>
  `${signature.name}+${signature.keyId.toString(16).padStart(8, '0')}`;

/** Key names of the signature lines of a note, in order. */
function signatureNames(signedNote: string): string[] {
  const block = signedNote.slice(signedNote.lastIndexOf('\n\n') + 2);
  return block
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' ')[1]!);
}

function expectLedgerError(run: () => unknown, code: LedgerErrorCode): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.name, 'LedgerError');
    return true;
  });
}

async function expectLedgerRejection(run: () => Promise<unknown>, code: LedgerErrorCode): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** The error each x/mod (or C2SP list-verifier) outcome named in the vectors maps to. */
function expectedCode(sourceError: string): LedgerErrorCode {
  if (sourceError.startsWith('invalid signature for key')) return 'BAD_SIGNATURE';
  if (sourceError === 'note has no verifiable signatures') return 'UNVERIFIED_NOTE';
  if (sourceError.startsWith('errMismatchedVerifier')) return 'UNVERIFIED_NOTE';
  if (sourceError === 'malformed note') return 'MALFORMED_NOTE';
  throw new Error(`no expected error code for ${JSON.stringify(sourceError)}`);
}

function badNoteInput(vector: BadNoteVector): string | Uint8Array {
  if (vector.signed_note !== undefined) return vector.signed_note;
  if (vector.signed_note_hex !== undefined) return Buffer.from(vector.signed_note_hex, 'hex');
  const construct = vector.construct;
  assert.ok(construct, `bad note ${vector.desc} has no input`);
  return construct.text + construct.blank_line + construct.signature_line.repeat(construct.repeat);
}

describe('signed-note key vectors', () => {
  for (const key of allKeys) {
    it(`${key.name}: the key ID recomputes and the vkey parses`, () => {
      const publicKey = Buffer.from(key.public_key_hex, 'hex');
      const keyId = createHash('sha256')
        .update(key.name)
        .update(Uint8Array.of(0x0a, 0x01))
        .update(publicKey)
        .digest()
        .subarray(0, 4);
      assert.equal(keyId.toString('hex'), key.key_id);
      const encodedKey = Buffer.concat([Uint8Array.of(0x01), publicKey]).toString('base64');
      assert.equal(key.vkey, `${key.name}+${key.key_id}+${encodedKey}`);

      const verifier = parseVerifierKey(key.vkey);
      assert.equal(verifier.name, key.name);
      assert.equal(describeSignature(verifier), `${key.name}+${key.key_id}`);
    });
  }

  for (const key of keysWithSkey) {
    it(`${key.name}: the skey holds the seed and derives the vkey`, () => {
      const encodedSeed = key.skey.split('+').slice(4).join('+');
      assert.equal(Buffer.from(encodedSeed, 'base64').toString('hex'), `01${key.seed_hex}`);
      const signer = parseSignerKey(key.skey);
      assert.equal(signer.name, key.name);
      assert.equal(describeSignature(signer), `${key.name}+${key.key_id}`);
      assert.equal(signer.vkey, key.vkey);
    });
  }

  it('includes keys whose base64 contains "+", so splitting must stop early', () => {
    assert.ok(allKeys.some((key) => key.vkey.split('+').length > 3));
    assert.ok(keysWithSkey.some((key) => key.skey.split('+').length > 5));
  });

  for (const bad of vectors.bad_vkeys) {
    it(`rejects bad vkey: ${bad.desc}`, () => {
      expectLedgerError(() => parseVerifierKey(bad.vkey), 'MALFORMED_KEY');
    });
  }
});

describe('signed-note note vectors', () => {
  for (const note of vectors.notes) {
    it(`opens: ${note.desc}`, () => {
      const opened = openNote(note.signed_note, verifiersFor(note.verifier_keys));
      assert.equal(opened.text, note.text);
      assert.deepEqual(opened.verifiedSignatures.map(describeSignature), note.verified_by);
      assert.deepEqual(opened.unverifiedSignatures.map(describeSignature), note.unverified ?? []);
    });

    it(`opens from UTF-8 bytes: ${note.desc}`, () => {
      const opened = openNote(Buffer.from(note.signed_note, 'utf8'), verifiersFor(note.verifier_keys));
      assert.equal(opened.text, note.text);
    });
  }

  const resignable = vectors.notes.filter((note) =>
    signatureNames(note.signed_note).every((name) => keyNamed(name).skey !== undefined),
  );
  for (const note of resignable) {
    it(`re-signing with the skeys reproduces the bytes: ${note.desc}`, async () => {
      const signers = signatureNames(note.signed_note).map((name) => parseSignerKey(keyNamed(name).skey!));
      assert.equal(await signNote(note.text, signers), note.signed_note);
    });
  }

  for (const bad of vectors.bad_notes) {
    it(`rejects bad note: ${bad.desc}`, () => {
      const verifiers = verifiersFor(bad.verifier_keys);
      expectLedgerError(() => openNote(badNoteInput(bad), verifiers), expectedCode(bad.source_error));
    });
  }
});

describe('generated keys', () => {
  it('round-trip: the skey derives the vkey, and notes signed with it open', async () => {
    const { skey, vkey } = generateNoteKey('warden.example/ledger');
    const signer = parseSignerKey(skey);
    const verifier = parseVerifierKey(vkey);
    assert.equal(signer.vkey, vkey);
    assert.equal(signer.keyId, verifier.keyId);
    const text = 'warden.example/ledger\n42\n';
    const opened = openNote(await signNote(text, [signer]), [verifier]);
    assert.equal(opened.text, text);
    assert.deepEqual(opened.verifiedSignatures.map(describeSignature), [describeSignature(verifier)]);
  });

  it('are random', () => {
    assert.notEqual(generateNoteKey('same-name').skey, generateNoteKey('same-name').skey);
  });

  for (const name of ['', 'has space', 'has+plus', 'tab\tname', 'nbsp\u00a0name', 'line\u2028separator']) {
    it(`reject the invalid key name ${JSON.stringify(name)}`, () => {
      expectLedgerError(() => generateNoteKey(name), 'MALFORMED_KEY');
    });
  }
});

describe('key parsing', () => {
  const peter = keyNamed('PeterNeumann') as KeyVector & { skey: string };
  const [vkeyName, vkeyId, ...vkeyRest] = peter.vkey.split('+');
  const vkeyMaterial = vkeyRest.join('+');
  const otherId = (id: string): string => (id.startsWith('0') ? `1${id.slice(1)}` : `0${id.slice(1)}`);

  const badVkeys: [string, string][] = [
    ['no fields', vkeyName!],
    ['missing key', `${vkeyName}+${vkeyId}`],
    ['wrong key ID', `${vkeyName}+${otherId(vkeyId!)}+${vkeyMaterial}`],
    ['short key ID', `${vkeyName}+${vkeyId!.slice(1)}+${vkeyMaterial}`],
    ['renamed key', `${vkeyName}x+${vkeyId}+${vkeyMaterial}`],
    ['empty name', `+${vkeyId}+${vkeyMaterial}`],
    ['base64url key', `${vkeyName}+${vkeyId}+${vkeyMaterial.replaceAll('/', '_')}`],
    ['excess padding', `${vkeyName}+${vkeyId}+${vkeyMaterial}=`],
    ['whitespace in the key', `${vkeyName}+${vkeyId}+${vkeyMaterial.slice(0, 8)} ${vkeyMaterial.slice(8)}`],
    ['truncated key', `${vkeyName}+${vkeyId}+${vkeyMaterial.slice(0, -4)}`],
    ['an skey', peter.skey],
  ];
  for (const [desc, vkey] of badVkeys) {
    it(`rejects a vkey with ${desc}`, () => {
      assert.notEqual(vkey, peter.vkey);
      expectLedgerError(() => parseVerifierKey(vkey), 'MALFORMED_KEY');
    });
  }

  const skeyFields = peter.skey.split('+');
  const badSkeys: [string, string][] = [
    ['a vkey', peter.vkey],
    ['lowercase prefix', peter.skey.replace('PRIVATE+KEY', 'private+key')],
    ['wrong key ID', [...skeyFields.slice(0, 3), otherId(skeyFields[3]!), ...skeyFields.slice(4)].join('+')],
    ['renamed key', peter.skey.replace(`+${peter.name}+`, `+${peter.name}x+`)],
  ];
  for (const [desc, skey] of badSkeys) {
    it(`rejects an skey that is ${desc}`, () => {
      assert.notEqual(skey, peter.skey);
      expectLedgerError(() => parseSignerKey(skey), 'MALFORMED_KEY');
    });
  }
});

describe('signing and opening', () => {
  const [first, second] = keysWithSkey as [KeyVector & { skey: string }, KeyVector & { skey: string }];
  const signer = parseSignerKey(first.skey);
  const verifier = parseVerifierKey(first.vkey);
  const text = 'first line\n\nafter a blank line\n';

  it('keeps blank lines inside the text', async () => {
    assert.equal(openNote(await signNote(text, [signer]), [verifier]).text, text);
  });

  it('accepts a signer whose sign() is asynchronous, as a KMS would be', async () => {
    const kmsLike: NoteSigner = {
      name: signer.name,
      keyId: signer.keyId,
      sign: async (message) => signer.sign(message),
    };
    assert.equal(await signNote(text, [kmsLike]), await signNote(text, [signer]));
  });

  it('rejects tampered text with BAD_SIGNATURE', async () => {
    const note = await signNote(text, [signer]);
    expectLedgerError(() => openNote(note.replace('first', 'fir5t'), [verifier]), 'BAD_SIGNATURE');
  });

  it('rejects a note signed only by unknown keys with UNVERIFIED_NOTE and ignores them otherwise', async () => {
    const other = parseSignerKey(second.skey);
    const unknownOnly = await signNote(text, [other]);
    expectLedgerError(() => openNote(unknownOnly, [verifier]), 'UNVERIFIED_NOTE');
    const note = await signNote(text, [signer, other]);
    const repeatedUnknown = note + unknownOnly.slice(text.length + 1);
    for (const candidate of [note, repeatedUnknown]) {
      const opened = openNote(candidate, [verifier]);
      assert.deepEqual(opened.verifiedSignatures.map(describeSignature), [describeSignature(verifier)]);
      assert.deepEqual(opened.unverifiedSignatures.map(describeSignature), [describeSignature(other)]);
    }
  });

  it('rejects a signature from a known name and key ID that does not verify, even beside a good one', async () => {
    const impostor: NoteSigner = { name: signer.name, keyId: signer.keyId, sign: () => new Uint8Array(64) };
    const note = await signNote(text, [signer, impostor]);
    expectLedgerError(() => openNote(note, [verifier]), 'BAD_SIGNATURE');
  });

  it('rejects two different verifiers for the same name and key ID', async () => {
    const note = await signNote(text, [signer]);
    const lookalike: NoteVerifier = { name: verifier.name, keyId: verifier.keyId, verify: () => true };
    expectLedgerError(() => openNote(note, [verifier, lookalike]), 'AMBIGUOUS_VERIFIER');
  });

  it(`accepts ${MAX_NOTE_SIGNATURES} signatures (C2SP: at least 16) and counts a repeated one once`, async () => {
    assert.ok(MAX_NOTE_SIGNATURES >= 16);
    const note = await signNote(text, [signer]);
    const signatureLine = note.slice(text.length + 1);
    const opened = openNote(text + '\n' + signatureLine.repeat(MAX_NOTE_SIGNATURES), [verifier]);
    assert.equal(opened.verifiedSignatures.length, 1);
    const tooMany = text + '\n' + signatureLine.repeat(MAX_NOTE_SIGNATURES + 1);
    expectLedgerError(() => openNote(tooMany, [verifier]), 'MALFORMED_NOTE');
  });

  it('verifies 16 distinct signatures', async () => {
    const keys = Array.from({ length: 16 }, (_, i) => generateNoteKey(`witness-${i}.example`));
    const note = await signNote(text, keys.map((key) => parseSignerKey(key.skey)));
    const opened = openNote(note, keys.map((key) => parseVerifierKey(key.vkey)));
    assert.equal(opened.verifiedSignatures.length, 16);
  });

  const unsignableTexts: [string, string][] = [
    ['no final newline', 'no newline'],
    ['a control character', 'bell\u0007\n'],
    ['a carriage return', 'crlf\r\n'],
    ['a lone surrogate', 'half \ud800 pair\n'],
  ];
  for (const [desc, badText] of unsignableTexts) {
    it(`refuses to sign text with ${desc}`, async () => {
      await expectLedgerRejection(() => signNote(badText, [signer]), 'MALFORMED_NOTE');
    });
  }

  it('refuses to sign without signers or with an invalid signer name', async () => {
    await expectLedgerRejection(() => signNote(text, []), 'MALFORMED_NOTE');
    const badName: NoteSigner = { name: 'bad name', keyId: signer.keyId, sign: (message) => signer.sign(message) };
    await expectLedgerRejection(() => signNote(text, [badName]), 'MALFORMED_KEY');
  });

  it('rejects malformed signature lines', async () => {
    const note = await signNote(text, [signer]);
    const signatureLine = note.slice(text.length + 1, -1);
    const [dash, name, encoded] = signatureLine.split(' ') as [string, string, string];
    for (const line of [
      `${dash}${name} ${encoded}`,
      `- ${name} ${encoded}`,
      `${dash} ${name}`,
      `${dash} ${name} ${encoded.replaceAll('/', '_').replaceAll('+', '-')}x`,
      `${dash} ${name}  ${encoded}`,
      `${dash} ${name} ${Buffer.from(encoded, 'base64').subarray(0, 4).toString('base64')}`,
    ]) {
      expectLedgerError(() => openNote(`${text}\n${line}\n`, [verifier]), 'MALFORMED_NOTE');
    }
  });
});
