/**
 * Where finished evidence bundles go: S3 (s3-target.ts) or a local directory. Either way a
 * bundle is named by its window and written once: a second write of the same name is refused,
 * never an overwrite.
 */
import { chmod, link, mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { EvidenceExportConfig } from '../../../core/config.js';

export interface BundleWindow {
  /** The manifest's window, ISO 8601, both ends included. */
  readonly from: string;
  readonly to: string;
}

export interface StoredBundle {
  /** The name within the target: the S3 key, or the file name. */
  readonly key: string;
  /** Where it is, for people: s3://bucket/key or a file path. */
  readonly location: string;
}

export interface BundleTarget {
  /** s3://bucket/prefix or a directory. */
  readonly location: string;
  /** Where the bundle of `window` is (or would be). */
  locate(window: BundleWindow): StoredBundle;
  /** Writes the bundle of `window`; a BundleTargetError with reason 'exists' when one is there already. */
  put(window: BundleWindow, body: Buffer, retainUntil: Date): Promise<StoredBundle>;
}

export type BundleTargetFailure = 'invalid' | 'exists' | 'unreachable' | 'refused';

export class BundleTargetError extends Error {
  override readonly name = 'BundleTargetError';
  constructor(
    message: string,
    /** invalid: a bad URL or name; exists: never overwritten; unreachable: try again later; refused: fix permissions or the bucket. */
    readonly reason: BundleTargetFailure,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `FROM--TO.tar.gz`, with `:` written as `-` so the name is safe in S3 keys, URLs and on every file system. */
export function bundleName(window: BundleWindow): string {
  const safe = (time: string) => time.replaceAll(':', '-');
  return `${safe(window.from)}--${safe(window.to)}.tar.gz`;
}

/** Bundles as read-only files in `dir`. Retention is not enforced locally: the files are only made read-only. */
export function directoryTarget(dir: string): BundleTarget {
  const locate = (window: BundleWindow) => ({ key: bundleName(window), location: join(dir, bundleName(window)) });
  return {
    location: dir,
    locate,
    put: async (window, body) => {
      const { key, location: file } = locate(window);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Written beside, made read-only, then linked into place: link(2) fails if the name exists,
      // so the bundle appears whole or not at all, and an existing one is never replaced.
      const partial = join(dir, `.${key}.${randomBytes(6).toString('hex')}.partial`);
      try {
        await writeFile(partial, body, { mode: 0o600, flag: 'wx' });
        await chmod(partial, 0o444);
        await link(partial, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BundleTargetError(`${file} already exists; a bundle is never overwritten`, 'exists');
        throw new BundleTargetError(`cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the evidence directory`, 'refused', { cause: error });
      } finally {
        await rm(partial, { force: true });
      }
      return { key, location: file };
    },
  };
}

/** Where the bundle of `window` goes under an S3 bucket and prefix. */
export function s3Location(location: { readonly bucket: string; readonly prefix: string }, window: BundleWindow): StoredBundle {
  const key = `${location.prefix}${bundleName(window)}`;
  return { key, location: `s3://${location.bucket}/${key}` };
}

/** The target evidence.export configures: its S3 bucket, else `dir`. */
export function configuredBundleTarget(settings: EvidenceExportConfig, dir: string): BundleTarget {
  const s3 = settings.s3;
  if (!s3) return directoryTarget(dir);
  // The S3 SDK loads when the first bundle is written, not with every module that builds a runtime.
  let target: Promise<BundleTarget> | undefined;
  const load = () => (target ??= import('./s3-target.js').then(({ createS3Client, s3Target }) => s3Target(createS3Client(s3), s3)));
  return {
    location: `s3://${s3.bucket}/${s3.prefix}`,
    locate: (window) => s3Location(s3, window),
    put: async (window, body, retainUntil) => (await load()).put(window, body, retainUntil),
  };
}
