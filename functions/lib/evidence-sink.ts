/**
 * Where evidence leaves the store: a directory locally, S3 with Object Lock in AWS. Evidence
 * is written once; only files named `latest…` are replaced.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';

export interface EvidenceSink {
  /** Writes `path` once. Writing the same bytes again is a no-op; different bytes are refused. */
  put(path: string, body: string, options?: { replace?: boolean }): Promise<void>;
  readonly location: string;
}

export class EvidenceConflictError extends Error {
  override readonly name = 'EvidenceConflictError';
}

export class DirectorySink implements EvidenceSink {
  constructor(readonly location: string) {}

  async put(path: string, body: string, options: { replace?: boolean } = {}): Promise<void> {
    const relative = normalize(path);
    if (isAbsolute(relative) || relative.startsWith('..')) throw new EvidenceConflictError(`evidence path ${path} leaves the sink`);
    const file = join(this.location, relative);
    await mkdir(dirname(file), { recursive: true });
    if (options.replace) {
      await writeFile(file, body, { mode: 0o644 });
      return;
    }
    try {
      await writeFile(file, body, { mode: 0o444, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if ((await readFile(file, 'utf8')) !== body) throw new EvidenceConflictError(`evidence ${path} already exists with other content; refusing to overwrite it`);
    }
  }
}
