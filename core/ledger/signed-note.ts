import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as signBytes,
  verify as verifyBytes,
  type KeyObject,
} from 'node:crypto';
import { TextDecoder } from 'node:util';
import { LedgerError } from './errors.js';

// C2SP signed notes (https://c2sp.org/signed-note), compatible with golang.org/x/mod/sumdb/note, Ed25519 only.

/** x/mod's limit; c2sp.org/signed-note says verifiers SHOULD limit signatures and MUST accept at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

const ED25519_SIGNATURE_TYPE = 0x01;
const ED25519_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const KEY_ID_SIZE = 4;
const SIGNATURE_LINE_PREFIX = '\u2014 ';
const SIGNER_KEY_PREFIX = 'PRIVATE+KEY+';

// Fixed DER headers that wrap a raw Ed25519 seed (PKCS #8, RFC 8410) or public key (SPKI) for node:crypto.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** ASCII control characters other than newline, which signed notes MUST NOT contain. */
const FORBIDDEN_CONTROL_CHARACTER = /[\x00-\x09\x0b-\x1f]/;
/** A lone UTF-16 surrogate, i.e. a string that has no UTF-8 encoding. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Key names MUST be non-empty and contain no Unicode spaces or plus signs. */
const KEY_NAME = /^[^\p{White_Space}\p{Cs}+]+$/u;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Signs note text as the key `name` with 32-bit key ID `keyId`; may be backed by a KMS. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A signer parsed from an skey, which also knows the vkey that verifies it. */
export interface Ed25519NoteSigner extends NoteSigner {
  readonly vkey: string;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** The base64 of key ID || signature, as it appears on the signature line. */
  readonly base64: string;
}

export interface OpenedNote {
  readonly text: string;
  readonly verifiedSignatures: NoteSignature[];
  /** Signatures from keys not among the verifiers, which c2sp.org/signed-note says to ignore. */
  readonly unverifiedSignatures: NoteSignature[];
}

export function generateNoteKey(name: string): { skey: string; vkey: string } {
  requireKeyName(name);
  const seed = randomBytes(ED25519_KEY_SIZE);
  const publicKey = ed25519PublicKey(ed25519PrivateKey(seed));
  const keyId = ed25519KeyId(name, publicKey);
  return {
    skey: `${SIGNER_KEY_PREFIX}${name}+${formatKeyId(keyId)}+${encodeKey(seed)}`,
    vkey: formatVerifierKey(name, keyId, publicKey),
  };
}

/** Parses `name+hex(keyID)+base64(0x01 || public key)`. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  // Split on the first two '+' only: the base64 may contain '+' too.
  const fields = splitFirst(vkey, '+', 2);
  if (fields === undefined) throw malformedKey('a verifier key must be name+keyID+key');
  const [name, keyIdHex, encodedKey] = fields as [string, string, string];
  const publicKey = decodeKey(name, keyIdHex, encodedKey);
  const keyId = requireKeyId(name, keyIdHex, publicKey);
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return {
    name,
    keyId,
    verify: (message, signature) =>
      signature.length === ED25519_SIGNATURE_SIZE && verifyBytes(null, message, key, signature),
  };
}

/** Parses `PRIVATE+KEY+name+hex(keyID)+base64(0x01 || 32-byte seed)`. */
export function parseSignerKey(skey: string): Ed25519NoteSigner {
  // Split on the first four '+' only: the base64 may contain '+' too.
  const fields = splitFirst(skey, '+', 4);
  if (fields === undefined || !skey.startsWith(SIGNER_KEY_PREFIX)) {
    throw malformedKey('a signer key must be PRIVATE+KEY+name+keyID+key');
  }
  const [, , name, keyIdHex, encodedKey] = fields as [string, string, string, string, string];
  const key = ed25519PrivateKey(decodeKey(name, keyIdHex, encodedKey));
  const publicKey = ed25519PublicKey(key);
  // The ID in an skey is that of the public key, so it can only be checked once the seed is expanded.
  const keyId = requireKeyId(name, keyIdHex, publicKey);
  return {
    name,
    keyId,
    vkey: formatVerifierKey(name, keyId, publicKey),
    sign: (message) => signBytes(null, message, key),
  };
}

/** Produces text + blank line + one `— name base64(keyID || signature)` line per signer. */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  if (!text.endsWith('\n') || LONE_SURROGATE.test(text) || FORBIDDEN_CONTROL_CHARACTER.test(text)) {
    throw malformedNote('note text must be UTF-8 without control characters other than newline, ending in newline');
  }
  if (signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES) {
    throw malformedNote(`a signed note needs between 1 and ${MAX_NOTE_SIGNATURES} signatures`);
  }
  for (const signer of signers) {
    requireKeyName(signer.name);
    if (!Number.isInteger(signer.keyId) || signer.keyId < 0 || signer.keyId > 0xffffffff) {
      throw malformedKey(`signer ${signer.name} has a key ID that is not a 32-bit unsigned integer`);
    }
  }
  const message = Buffer.from(text, 'utf8');
  const lines = await Promise.all(
    signers.map(async (signer) => {
      const keyId = Buffer.alloc(KEY_ID_SIZE);
      keyId.writeUInt32BE(signer.keyId);
      const signature = await signer.sign(message);
      return `${SIGNATURE_LINE_PREFIX}${signer.name} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
    }),
  );
  return `${text}\n${lines.join('')}`;
}

/**
 * Parses a signed note and verifies every signature from a known key (matched by name and key ID).
 * Throws LedgerError: MALFORMED_NOTE, BAD_SIGNATURE (a known key's signature fails),
 * UNVERIFIED_NOTE (no known key signed) or AMBIGUOUS_VERIFIER.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const message = typeof note === 'string' ? note : decodeUtf8(note);
  if (LONE_SURROGATE.test(message) || FORBIDDEN_CONTROL_CHARACTER.test(message)) {
    throw malformedNote('a signed note must not contain control characters other than newline');
  }
  // The text may contain blank lines: the last one separates it from the signatures.
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw malformedNote('a signed note needs a blank line before its signatures');
  const text = message.slice(0, split + 1);
  const signatureBlock = message.slice(split + 2);
  if (!signatureBlock.endsWith('\n')) throw malformedNote('a signed note must end with a signature line');
  const signatureLines = signatureBlock.slice(0, -1).split('\n');
  if (signatureLines.length > MAX_NOTE_SIGNATURES) {
    throw malformedNote(`a signed note may carry at most ${MAX_NOTE_SIGNATURES} signatures`);
  }

  const verifierByKey = indexVerifiers(verifiers);
  const textBytes = Buffer.from(text, 'utf8');
  const verified = new Map<string, NoteSignature>();
  const unverified = new Map<string, NoteSignature>();
  for (const line of signatureLines) {
    const { signature, signatureBytes } = parseSignatureLine(line);
    const key = keyLookup(signature.name, signature.keyId);
    const verifier = verifierByKey.get(key);
    if (verifier === undefined) {
      if (!unverified.has(line)) unverified.set(line, signature);
      continue;
    }
    if (!verifier.verify(textBytes, signatureBytes)) {
      throw new LedgerError('BAD_SIGNATURE', `invalid signature for key ${describeKey(signature)}`);
    }
    if (!verified.has(key)) verified.set(key, signature);
  }
  if (verified.size === 0) throw new LedgerError('UNVERIFIED_NOTE', 'the note has no signature from a known key');
  return { text, verifiedSignatures: [...verified.values()], unverifiedSignatures: [...unverified.values()] };
}

function parseSignatureLine(line: string): { signature: NoteSignature; signatureBytes: Buffer } {
  if (!line.startsWith(SIGNATURE_LINE_PREFIX)) throw malformedNote('unexpected line in the signature block');
  const body = line.slice(SIGNATURE_LINE_PREFIX.length);
  const space = body.indexOf(' ');
  if (space < 0) throw malformedNote('a signature line must be "— name signature"');
  const name = body.slice(0, space);
  const base64 = body.slice(space + 1);
  const bytes = decodeBase64(base64);
  if (!KEY_NAME.test(name) || bytes === undefined || bytes.length <= KEY_ID_SIZE) {
    throw malformedNote('malformed signature line');
  }
  return {
    signature: { name, keyId: bytes.readUInt32BE(0), base64 },
    signatureBytes: bytes.subarray(KEY_ID_SIZE),
  };
}

function indexVerifiers(verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier> {
  const byKey = new Map<string, NoteVerifier>();
  for (const verifier of verifiers) {
    const key = keyLookup(verifier.name, verifier.keyId);
    const existing = byKey.get(key);
    if (existing !== undefined && existing !== verifier) {
      throw new LedgerError('AMBIGUOUS_VERIFIER', `more than one verifier for key ${describeKey(verifier)}`);
    }
    byKey.set(key, verifier);
  }
  return byKey;
}

/** Checks the name and key ID fields shared by vkeys and skeys and returns the 32-byte Ed25519 key. */
function decodeKey(name: string, keyIdHex: string, encodedKey: string): Buffer {
  requireKeyName(name);
  if (!/^[0-9a-fA-F]{8}$/.test(keyIdHex)) throw malformedKey(`key ${name} needs an 8-digit hex key ID`);
  const key = decodeBase64(encodedKey);
  if (key === undefined || key.length === 0) throw malformedKey(`key ${name} is not valid base64`);
  if (key[0] !== ED25519_SIGNATURE_TYPE) {
    throw malformedKey(`key ${name} has unsupported signature type 0x${key[0]!.toString(16).padStart(2, '0')}`);
  }
  if (key.length !== 1 + ED25519_KEY_SIZE) throw malformedKey(`key ${name} is not a 32-byte Ed25519 key`);
  return key.subarray(1);
}

function requireKeyId(name: string, keyIdHex: string, publicKey: Uint8Array): number {
  const keyId = ed25519KeyId(name, publicKey);
  if (keyId !== Number.parseInt(keyIdHex, 16)) throw malformedKey(`key ${name} does not have key ID ${keyIdHex}`);
  return keyId;
}

/** c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** `name+hex(keyID)+base64(0x01 || public key)`, the vkey that verifies an Ed25519 signer's notes. */
export function formatVerifierKey(name: string, keyId: number, publicKey: Uint8Array): string {
  return `${name}+${formatKeyId(keyId)}+${encodeKey(publicKey)}`;
}

function formatKeyId(keyId: number): string {
  return keyId.toString(16).padStart(2 * KEY_ID_SIZE, '0');
}

function encodeKey(rawKey: Uint8Array): string {
  return Buffer.concat([Uint8Array.of(ED25519_SIGNATURE_TYPE), rawKey]).toString('base64');
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function ed25519PublicKey(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
}

/** Standard base64 (RFC 4648 §4) in its canonical form only; undefined for anything else. */
function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  // Buffer skips invalid characters, missing padding and non-zero trailing bits; re-encoding exposes all three.
  return bytes.toString('base64') === text ? bytes : undefined;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new LedgerError('MALFORMED_NOTE', 'a signed note must be valid UTF-8', { cause: error });
  }
}

function splitFirst(text: string, separator: string, count: number): string[] | undefined {
  const fields: string[] = [];
  let rest = text;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf(separator);
    if (at < 0) return undefined;
    fields.push(rest.slice(0, at));
    rest = rest.slice(at + separator.length);
  }
  fields.push(rest);
  return fields;
}

function requireKeyName(name: string): void {
  if (!KEY_NAME.test(name)) throw malformedKey(`invalid key name ${JSON.stringify(name)}`);
}

function keyLookup(name: string, keyId: number): string {
  return `${keyId} ${name}`;
}

function describeKey(key: { name: string; keyId: number }): string {
  return `${key.name}+${formatKeyId(key.keyId)}`;
}

function malformedKey(message: string): LedgerError {
  return new LedgerError('MALFORMED_KEY', message);
}

function malformedNote(message: string): LedgerError {
  return new LedgerError('MALFORMED_NOTE', message);
}
