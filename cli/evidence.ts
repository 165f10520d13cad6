/**
 * `warden export` and `warden verify BUNDLE`: an evidence bundle for a time window, written to a
 * file (and, with --s3, to S3), and its offline check with only the bundle and the public key.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { packBundle, unpackBundle, BundleArchiveError } from '../core/evidence/archive.js';
import { fileDigest } from '../core/evidence/bundle.js';
import { verifyBundle, type BundleReport } from '../core/evidence/verify-bundle.js';
import { ApprovalStore } from '../functions/lib/approval-store.js';
import { buildBundle, EvidenceExportError, type BuiltBundle } from '../functions/lib/evidence/export.js';
import { GrantStore } from '../functions/lib/grant-store.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import { integrateAndCheckpoint } from './checkpoint.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { parseDuration } from './grants.js';
import { openStore } from './store-access.js';
import { readVerifierKey } from './verify.js';

export interface ExportOptions {
  readonly from: Date;
  readonly to: Date;
  readonly out: string;
  readonly progress: (line: string) => void;
}

export interface ExportSummary {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly entries: BuiltBundle['manifest']['entries'];
  readonly treeSize: number;
  readonly keyFingerprint: string;
  readonly verified: boolean;
}

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
  const paths = statePaths(loaded.stateDir);
  options.progress('integrating and signing a checkpoint…');
  await integrateAndCheckpoint(loaded);
  const signer = await loadOrCreateNoteKey(paths.logKey, loaded.config.ledger.origin);
  const store = await openStore(loaded);
  let built: BuiltBundle;
  try {
    const prefix = loaded.config.store.tablePrefix;
    built = await buildBundle(
      {
        reader: store.reader,
        approvals: new ApprovalStore(store.client, prefix),
        grants: new GrantStore(store.client, prefix),
        signer,
        vkey: signer.vkey,
        // The ledger names a recording by the path the gateway wrote; only its file name is trusted.
        readRecording: (path) => readFile(join(paths.recordings, basename(path))).catch(() => undefined),
      },
      { from: options.from, to: options.to },
      options.progress,
    );
  } catch (error) {
    if (error instanceof EvidenceExportError) throw new CliError(error.message, 1);
    throw error;
  } finally {
    await store.close();
  }
  const bundle = await packBundle(built.files, new Date(built.manifest.createdAt));
  await writeFile(options.out, bundle, { mode: 0o600 });
  return {
    bundle,
    file: options.out,
    bytes: bundle.length,
    sha256: fileDigest(bundle),
    entries: built.manifest.entries,
    treeSize: built.manifest.treeSize,
    keyFingerprint: built.manifest.keyFingerprint,
    verified: built.verification.ok,
  };
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
