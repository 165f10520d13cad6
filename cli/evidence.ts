/**
 * `warden export` and `warden verify BUNDLE`: an evidence bundle for a time window, written to a
 * file or to S3 (under Object Lock), and its offline check with only the bundle and the public key.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { S3_DEFAULTS } from '../core/config.js';
import { packBundle, unpackBundle, BundleArchiveError } from '../core/evidence/archive.js';
import { fileDigest, type Manifest } from '../core/evidence/bundle.js';
import { verifyBundle, type BundleReport } from '../core/evidence/verify-bundle.js';
import { BundleTargetError, type BundleTarget } from '../functions/lib/evidence/bundle-target.js';
import { buildBundle, EvidenceExportError, type BuiltBundle } from '../functions/lib/evidence/export.js';
import { evidenceSources, recordingsIn } from '../functions/lib/evidence/sources.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import { integrateAndCheckpoint } from './checkpoint.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { parseDuration } from './grants.js';
import { openStore } from './store-access.js';
import { readVerifierKey } from './verify.js';

/** A file, or an S3 URL (s3://bucket/prefix). */
export type ExportDestination = { readonly file: string } | { readonly s3: string };

export interface ExportOptions {
  readonly from: Date;
  readonly to: Date;
  readonly destination: ExportDestination;
  readonly progress: (line: string) => void;
}

export interface ExportSummary {
  /** The file, or the object's s3:// URL. */
  readonly location: string;
  /** In S3: until when Object Lock keeps the bundle (evidence.export.retentionDays). */
  readonly retainUntil?: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly entries: BuiltBundle['manifest']['entries'];
  readonly treeSize: number;
  readonly keyFingerprint: string;
  readonly verified: boolean;
}

const DAY_MS = 86_400_000;

/** An instant on the command line: ISO 8601, `now`, or a duration ago (`24h`, `7d`). */
export function parseInstant(text: string, now: Date): Date {
  if (text === 'now') return now;
  if (/^\d+[dhms]/.test(text)) return new Date(now.getTime() - parseDuration(text) * 1000);
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new CliError(`"${text}" is not a time: write an ISO 8601 time (2026-11-01T00:00:00Z), a date, "now", or a duration ago (24h, 7d)`, 2);
  return new Date(time);
}

export async function exportEvidence(loaded: LoadedConfig, options: ExportOptions): Promise<ExportSummary & { bundle: Buffer }> {
  if (options.from > options.to) throw new CliError('--from is after --to', 2);
  // Before any work, so a mistyped URL fails at once.
  const write = 'file' in options.destination ? fileWriter(options.destination.file) : await s3Writer(loaded, options.destination.s3, options.progress);
  const paths = statePaths(loaded.stateDir);
  options.progress('integrating and signing a checkpoint…');
  await integrateAndCheckpoint(loaded);
  const signer = await loadOrCreateNoteKey(paths.logKey, loaded.config.ledger.origin);
  const store = await openStore(loaded);
  let built: BuiltBundle;
  try {
    const sources = evidenceSources(store.client, loaded.config.store.tablePrefix, signer, recordingsIn(paths.recordings));
    built = await buildBundle(sources, { from: options.from, to: options.to }, options.progress);
  } catch (error) {
    if (error instanceof EvidenceExportError) throw new CliError(error.message, 1);
    throw error;
  } finally {
    await store.close();
  }
  const bundle = await packBundle(built.files, new Date(built.manifest.createdAt));
  return {
    bundle,
    ...(await write(bundle, built.manifest)),
    bytes: bundle.length,
    sha256: fileDigest(bundle),
    entries: built.manifest.entries,
    treeSize: built.manifest.treeSize,
    keyFingerprint: built.manifest.keyFingerprint,
    verified: built.verification.ok,
  };
}

type BundleWriter = (bundle: Buffer, manifest: Manifest) => Promise<Pick<ExportSummary, 'location' | 'retainUntil'>>;

function fileWriter(file: string): BundleWriter {
  return async (bundle) => {
    await writeFile(file, bundle, { mode: 0o600 });
    return { location: file };
  };
}

/** The bucket and prefix from the URL; endpoint, region and path style from evidence.export.s3 when it is configured. */
async function s3Writer(loaded: LoadedConfig, url: string, progress: (line: string) => void): Promise<BundleWriter> {
  // The S3 SDK loads only for --s3: `warden verify BUNDLE` shares this module and never needs it.
  const { createS3Client, parseS3Url, s3Target } = await import('../functions/lib/evidence/s3-target.js');
  let target: BundleTarget;
  try {
    target = s3Target(createS3Client(loaded.config.evidence.export.s3 ?? S3_DEFAULTS), parseS3Url(url));
  } catch (error) {
    throw cliErrorOf(error);
  }
  return async (bundle, manifest) => {
    const retainUntil = new Date(Date.parse(manifest.createdAt) + loaded.config.evidence.export.retentionDays * DAY_MS);
    progress(`writing to ${target.locate(manifest).location}, locked until ${retainUntil.toISOString()}…`);
    try {
      return { location: (await target.put({ from: manifest.from, to: manifest.to }, bundle, retainUntil)).location, retainUntil: retainUntil.toISOString() };
    } catch (error) {
      throw cliErrorOf(error);
    }
  };
}

function cliErrorOf(error: unknown): unknown {
  if (!(error instanceof BundleTargetError)) return error;
  return new CliError(error.message, error.reason === 'invalid' ? 2 : error.reason === 'unreachable' ? 3 : 1);
}

export async function verifyEvidence(loaded: LoadedConfig, bundlePath: string, keyFile: string | undefined): Promise<BundleReport> {
  const vkey = await readVerifierKey(loaded, keyFile);
  let archive: Buffer;
  try {
    archive = await readFile(bundlePath);
  } catch (error) {
    throw new CliError(`cannot read the bundle ${bundlePath} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
  try {
    return verifyBundle(await unpackBundle(archive), vkey);
  } catch (error) {
    if (error instanceof BundleArchiveError) throw new CliError(`${bundlePath}: ${error.message}`, 1);
    throw error;
  }
}
