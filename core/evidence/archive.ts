/**
 * A bundle on disk or in S3: its files in a gzipped POSIX tar under one top directory. Reading
 * refuses what a bundle never holds, so a hostile archive cannot write outside or exhaust memory:
 * links and other non-regular entries, absolute or `..` paths, too many files, too many bytes.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGunzip, createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

export const BUNDLE_DIRECTORY = 'warden-evidence';
const MAX_FILES = 100_000;
const MAX_BYTES = 4 * 1024 ** 3;

export class BundleArchiveError extends Error {
  override readonly name = 'BundleArchiveError';
}

export async function packBundle(files: ReadonlyMap<string, Uint8Array>, mtime: Date): Promise<Buffer> {
  const pack = tar.pack();
  const gzipped = buffer(pack.pipe(createGzip()));
  for (const [path, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    pack.entry({ name: `${BUNDLE_DIRECTORY}/${path}`, size: bytes.length, mode: 0o644, mtime }, Buffer.from(bytes));
  }
  pack.finalize();
  return gzipped;
}

export async function unpackBundle(archive: Uint8Array): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  const extract = tar.extract();
  const reading = (async () => {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (type === 'directory') {
        entry.resume();
        continue;
      }
      if (type !== 'file') throw new BundleArchiveError(`${name} is a ${String(type)}, not a file: a bundle holds only files`);
      const path = bundlePath(name);
      if (files.has(path)) throw new BundleArchiveError(`${path} appears twice in the archive`);
      if (files.size >= MAX_FILES) throw new BundleArchiveError(`more than ${MAX_FILES} files: not a Warden bundle`);
      const bytes = await buffer(entry);
      total += bytes.length;
      if (total > MAX_BYTES) throw new BundleArchiveError(`more than ${MAX_BYTES} bytes unpacked: not a Warden bundle`);
      files.set(path, bytes);
    }
  })();
  try {
    await Promise.all([pipeline(Readable.from([Buffer.from(archive)]), createGunzip(), extract), reading]);
  } catch (error) {
    if (error instanceof BundleArchiveError) throw error;
    throw new BundleArchiveError(`not a readable bundle (gzipped tar): ${error instanceof Error ? error.message : String(error)}`);
  }
  return files;
}

/** The path inside the bundle: below the top directory, relative, without `.` or `..` segments. */
function bundlePath(name: string): string {
  const prefix = `${BUNDLE_DIRECTORY}/`;
  if (!name.startsWith(prefix)) throw new BundleArchiveError(`${name} is outside ${prefix}`);
  const path = name.slice(prefix.length);
  const segments = path.split('/');
  if (path === '' || segments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\'))) {
    throw new BundleArchiveError(`${name} is not a plain relative path`);
  }
  return path;
}
