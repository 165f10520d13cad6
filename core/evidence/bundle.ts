/**
 * The evidence bundle: what `warden export` writes and `warden verify BUNDLE` checks offline
 * with nothing but the bundle and the log's public key. A bundle is a set of files (a gzipped
 * tar on disk or in S3); `manifest.note` lists every other file with its SHA-256 and is signed
 * with the log key, in the same signed-note form as the checkpoints.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const BUNDLE_FORMAT = 'warden-evidence/1';
/** The manifest note's first line: it can never be read as a checkpoint, whose first line is the log's origin. */
export const MANIFEST_HEADER = 'warden evidence manifest v1';

export const BundlePaths = {
  manifest: 'manifest.note',
  /** The signed checkpoint every proof in the bundle is against. */
  checkpoint: 'checkpoint.note',
  /** One ExportedEntry per line, in index order, with no gaps. */
  entries: 'entries.jsonl',
  /** One EntryProof per exported entry, in the same order. */
  proofs: 'proofs.jsonl',
  /** The configuration in force when the window opened, when it was recorded before it: one ProvenEntry. */
  configInForce: 'config-in-force.json',
  approvals: 'approvals.jsonl',
  grants: 'grants.jsonl',
  /** Masking counts per command (from the command.result entries), for reading without the ledger. */
  masking: 'masking.jsonl',
  report: 'report.html',
  fingerprint: 'key-fingerprint.txt',
  recordings: 'recordings/',
} as const;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const manifestFileSchema = z.strictObject({ path: z.string().min(1), sha256, bytes: z.number().int().nonnegative() });
export type ManifestFile = z.infer<typeof manifestFileSchema>;

export const manifestSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  /** The log's origin (ledger.origin), as in its checkpoints. */
  origin: z.string().min(1),
  /** The window asked for (ISO 8601). */
  from: z.string(),
  to: z.string(),
  createdAt: z.string(),
  /** keyFingerprint() of the log's verifier key. */
  keyFingerprint: z.string(),
  /** The size of the tree at the bundle's checkpoint. */
  treeSize: z.number().int().nonnegative(),
  /** The exported entries are the indexes firstIndex..lastIndex, all of them; null when the window holds none. */
  entries: z.strictObject({ count: z.number().int().nonnegative(), firstIndex: z.number().int().nonnegative().nullable(), lastIndex: z.number().int().nonnegative().nullable() }),
  files: z.array(manifestFileSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const exportedEntrySchema = z.strictObject({
  index: z.number().int().nonnegative(),
  /** The entry's canonical JSON text: what the Merkle leaf and the chain hash cover. */
  entry: z.string(),
  /** SHA-256 of `entry`, as stored (the next entry of the session links to it). */
  hash: sha256,
});
export type ExportedEntry = z.infer<typeof exportedEntrySchema>;

export const entryProofSchema = z.strictObject({ index: z.number().int().nonnegative(), proof: z.array(sha256) });
export type EntryProof = z.infer<typeof entryProofSchema>;

/** An entry outside the exported range, with its own inclusion proof. */
export const provenEntrySchema = exportedEntrySchema.extend({ proof: z.array(sha256) });
export type ProvenEntry = z.infer<typeof provenEntrySchema>;

/** How a verifier key is named in reports: SHA-256 of its text, so an auditor can compare it with one got out of band. */
export function keyFingerprint(vkey: string): string {
  return `SHA256:${createHash('sha256').update(vkey.trim()).digest('hex')}`;
}

export function manifestNoteText(manifest: Manifest): string {
  return `${MANIFEST_HEADER}\n${JSON.stringify(manifest)}\n`;
}

export function fileDigest(bytes: Uint8Array): ManifestFile['sha256'] {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The bundle path of a recording: its file name under recordings/. */
export function recordingPath(recorded: string): string {
  return `${BundlePaths.recordings}${recorded.split('/').at(-1)}`;
}

/** Parses JSON Lines, naming the line that is not valid. */
export function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`line ${i + 1} is not JSON`);
      }
    });
}
