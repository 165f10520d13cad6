/**
 * Checks an evidence bundle offline, with only its files and the log's public key. Each check
 * names what it proves; any failure makes the bundle unverified:
 * - manifest-signature: the manifest was signed by this key and not changed since;
 * - key-fingerprint: the bundle says it was made for this key;
 * - file-digests: every file is the one the manifest lists (none changed, missing or added);
 * - checkpoint-signature: the checkpoint was signed by this key;
 * - entries-complete: the exported entries are every index of their range, each one's hash right;
 * - inclusion-proofs: every entry (and the configuration in force) is in the checkpoint's tree;
 * - hash-chains: consecutive entries of a session link to each other;
 * - recordings: each recording an entry names is here, with the SHA-256 the entry holds.
 */
import type { z } from 'zod';
import { parseCheckpoint, type Checkpoint } from '../ledger/checkpoint.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { sha256Hex } from '../ledger/entry.js';
import { leafHash, verifyInclusion } from '../ledger/merkle.js';
import { openNote, parseVerifierKey, type NoteVerifier } from '../ledger/signed-note.js';
import {
  BundlePaths,
  entryProofSchema,
  exportedEntrySchema,
  fileDigest,
  jsonLines,
  keyFingerprint,
  MANIFEST_HEADER,
  manifestSchema,
  provenEntrySchema,
  recordingPath,
  type ExportedEntry,
  type Manifest,
  type ProvenEntry,
} from './bundle.js';

export type BundleCheckName = 'manifest-signature' | 'key-fingerprint' | 'file-digests' | 'checkpoint-signature' | 'entries-complete' | 'inclusion-proofs' | 'hash-chains' | 'recordings';

export interface BundleCheck {
  readonly name: BundleCheckName;
  readonly ok: boolean;
  readonly detail: string;
}

export interface BundleReport {
  readonly ok: boolean;
  readonly checks: readonly BundleCheck[];
  readonly manifest?: Manifest;
  readonly keyFingerprint: string;
}

/** A check that cannot run because an earlier one failed counts as failed. */
class Checks {
  readonly list: BundleCheck[] = [];
  pass(name: BundleCheckName, detail: string): void {
    this.list.push({ name, ok: true, detail });
  }
  fail(name: BundleCheckName, detail: string): void {
    this.list.push({ name, ok: false, detail });
  }
}

export function verifyBundle(files: ReadonlyMap<string, Uint8Array>, vkey: string): BundleReport {
  const checks = new Checks();
  const fingerprint = keyFingerprint(vkey);
  const report = (manifest?: Manifest): BundleReport => ({ ok: checks.list.every((c) => c.ok), checks: checks.list, keyFingerprint: fingerprint, ...(manifest ? { manifest } : {}) });
  let verifier: NoteVerifier;
  try {
    verifier = parseVerifierKey(vkey.trim());
  } catch (error) {
    checks.fail('manifest-signature', `the public key is not a verifier key: ${message(error)}`);
    return report();
  }

  const manifest = openManifest(files, verifier, checks);
  if (!manifest) return report();
  if (manifest.keyFingerprint === fingerprint && text(files, BundlePaths.fingerprint)?.trim() === fingerprint) checks.pass('key-fingerprint', fingerprint);
  else checks.fail('key-fingerprint', `the bundle was made for ${manifest.keyFingerprint}, not this key (${fingerprint})`);
  checkDigests(files, manifest, checks);

  const checkpoint = openCheckpoint(files, verifier, manifest, checks);
  const entries = readEntries(files, manifest, checks);
  if (checkpoint && entries) checkProofs(files, entries, checkpoint, checks);
  else checks.fail('inclusion-proofs', 'not checked: the checkpoint or the entries did not verify');
  if (entries) {
    checkChains(entries, checks);
    checkRecordings(files, entries, checks);
  }
  return report(manifest);
}

function openManifest(files: ReadonlyMap<string, Uint8Array>, verifier: NoteVerifier, checks: Checks): Manifest | undefined {
  const note = text(files, BundlePaths.manifest);
  if (note === undefined) return void checks.fail('manifest-signature', `${BundlePaths.manifest} is missing`);
  let body: string;
  try {
    body = openNote(note, [verifier]).text;
  } catch (error) {
    return void checks.fail('manifest-signature', `the manifest's signature does not verify with this key: ${message(error)}`);
  }
  const [header, json] = body.split('\n');
  const parsed = header === MANIFEST_HEADER ? parse(manifestSchema, json) : undefined;
  if (!parsed) return void checks.fail('manifest-signature', 'the signed text is not a Warden evidence manifest');
  checks.pass('manifest-signature', `signed by ${verifier.name}`);
  return parsed;
}

function checkDigests(files: ReadonlyMap<string, Uint8Array>, manifest: Manifest, checks: Checks): void {
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const file of manifest.files) {
    listed.add(file.path);
    const bytes = files.get(file.path);
    if (!bytes) problems.push(`${file.path} is missing`);
    else if (bytes.length !== file.bytes || fileDigest(bytes) !== file.sha256) problems.push(`${file.path} is not the file the manifest lists (SHA-256 differs)`);
  }
  for (const path of files.keys()) if (path !== BundlePaths.manifest && !listed.has(path)) problems.push(`${path} is not in the manifest`);
  if (problems.length === 0) checks.pass('file-digests', `${manifest.files.length} files match the manifest`);
  else checks.fail('file-digests', problems.join('; '));
}

function openCheckpoint(files: ReadonlyMap<string, Uint8Array>, verifier: NoteVerifier, manifest: Manifest, checks: Checks): Checkpoint | undefined {
  const note = text(files, BundlePaths.checkpoint);
  if (note === undefined) return void checks.fail('checkpoint-signature', `${BundlePaths.checkpoint} is missing`);
  try {
    const checkpoint = parseCheckpoint(openNote(note, [verifier]).text);
    if (checkpoint.origin !== manifest.origin || checkpoint.size !== manifest.treeSize) {
      return void checks.fail('checkpoint-signature', `the checkpoint is for ${checkpoint.origin} at size ${checkpoint.size}; the manifest says ${manifest.origin} at ${manifest.treeSize}`);
    }
    checks.pass('checkpoint-signature', `${checkpoint.origin}, tree size ${checkpoint.size}`);
    return checkpoint;
  } catch (error) {
    return void checks.fail('checkpoint-signature', `the checkpoint's signature does not verify with this key: ${message(error)}`);
  }
}

interface ReadEntry extends ExportedEntry {
  readonly parsed: LedgerEntry;
}

function readEntries(files: ReadonlyMap<string, Uint8Array>, manifest: Manifest, checks: Checks): ReadEntry[] | undefined {
  let entries: ReadEntry[];
  try {
    entries = jsonLines(text(files, BundlePaths.entries) ?? '').map((line, i) => {
      const entry = parse(exportedEntrySchema, line);
      if (!entry) throw new Error(`line ${i + 1} is not an exported entry`);
      return { ...entry, parsed: JSON.parse(entry.entry) as LedgerEntry };
    });
  } catch (error) {
    return void checks.fail('entries-complete', `${BundlePaths.entries}: ${message(error)}`);
  }
  const { count, firstIndex, lastIndex } = manifest.entries;
  const problems: string[] = [];
  if (entries.length !== count) problems.push(`${entries.length} entries, the manifest says ${count}`);
  entries.forEach((entry, i) => {
    const expected = (firstIndex ?? 0) + i;
    if (entry.index !== expected && problems.length < 5) problems.push(`index ${expected} is missing (found ${entry.index})`);
    if (sha256Hex(entry.entry) !== entry.hash && problems.length < 5) problems.push(`entry ${entry.index} does not match its hash`);
  });
  if (entries.length > 0 && entries.at(-1)!.index !== lastIndex) problems.push(`the last entry is ${entries.at(-1)!.index}, the manifest says ${String(lastIndex)}`);
  if (problems.length > 0) return void checks.fail('entries-complete', problems.join('; '));
  checks.pass('entries-complete', count === 0 ? 'no entries in the window' : `${count} entries, indexes ${firstIndex}..${lastIndex}, none missing`);
  return entries;
}

function checkProofs(files: ReadonlyMap<string, Uint8Array>, entries: readonly ReadEntry[], checkpoint: Checkpoint, checks: Checks): void {
  let proofs: { index: number; proof: string[] }[];
  let inForce: ProvenEntry | undefined;
  try {
    proofs = jsonLines(text(files, BundlePaths.proofs) ?? '').map((line) => parse(entryProofSchema, line) ?? { index: -1, proof: [] });
    const config = text(files, BundlePaths.configInForce);
    inForce = config === undefined ? undefined : parse(provenEntrySchema, JSON.parse(config));
    if (config !== undefined && !inForce) throw new Error(`${BundlePaths.configInForce} is not a proven entry`);
  } catch (error) {
    return checks.fail('inclusion-proofs', message(error));
  }
  const proven = (entry: { index: number; entry: string }, proof: readonly string[] | undefined) =>
    proof !== undefined && verifyInclusion(leafHash(entry.entry), entry.index, checkpoint.size, proof.map((h) => Buffer.from(h, 'hex')), checkpoint.rootHash);
  const failed = entries.filter((entry, i) => proofs[i]?.index !== entry.index || !proven(entry, proofs[i]?.proof)).map((entry) => entry.index);
  if (inForce && !proven(inForce, inForce.proof)) failed.push(inForce.index);
  if (failed.length > 0) return checks.fail('inclusion-proofs', `no valid inclusion proof for index ${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ` and ${failed.length - 5} more` : ''}`);
  checks.pass('inclusion-proofs', `${entries.length + (inForce ? 1 : 0)} entries proven in the tree of size ${checkpoint.size}`);
}

function checkChains(entries: readonly ReadEntry[], checks: Checks): void {
  const last = new Map<string, ReadEntry>();
  const problems: string[] = [];
  for (const entry of entries) {
    const before = last.get(entry.parsed.session);
    if (before && before.parsed.seq + 1 === entry.parsed.seq && entry.parsed.prev !== before.hash) problems.push(`${entry.parsed.session}/${entry.parsed.seq} does not link to the entry before it`);
    last.set(entry.parsed.session, entry);
  }
  if (problems.length > 0) checks.fail('hash-chains', problems.slice(0, 5).join('; '));
  else checks.pass('hash-chains', `${last.size} session chains link up`);
}

function checkRecordings(files: ReadonlyMap<string, Uint8Array>, entries: readonly ReadEntry[], checks: Checks): void {
  const problems: string[] = [];
  let count = 0;
  for (const { parsed } of entries) {
    const recording = parsed.data.recording as { path?: unknown; sha256?: unknown } | undefined;
    if (typeof recording?.path !== 'string') continue;
    count += 1;
    const bytes = files.get(recordingPath(recording.path));
    if (!bytes) problems.push(`${recordingPath(recording.path)} (named by ${parsed.id}) is missing`);
    else if (fileDigest(bytes) !== recording.sha256) problems.push(`${recordingPath(recording.path)} is not the recording ${parsed.id} names (SHA-256 differs)`);
  }
  if (problems.length > 0) checks.fail('recordings', problems.slice(0, 5).join('; '));
  else checks.pass('recordings', `${count} recordings match their entries`);
}

function text(files: ReadonlyMap<string, Uint8Array>, path: string): string | undefined {
  const bytes = files.get(path);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> | undefined {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
