/**
 * The evidence sink in S3 (the Lambda control plane's; `warden up` writes to a DirectorySink):
 * keys under the deployment's evidence prefix, in the Object Lock bucket of
 * infra/constructs/evidence-bucket.ts.
 *
 * A key written once (`checkpoints/<size>.note`) is put with If-None-Match and COMPLIANCE
 * retention until now + retentionDays, as bundles are (s3-target.ts). Finding it already there
 * is success when it holds the same bytes (a checkpoint run that failed after the put and was
 * run again signs the same note) and an EvidenceConflictError otherwise, as in DirectorySink.
 *
 * A replaced key (`checkpoints/latest.note`) is put without If-None-Match and without an
 * explicit retention: it is a pointer to a note that is itself kept under its own key, so
 * locking it adds no evidence; a retention date on it would only pin versions that nobody
 * needs. The bucket's default retention (COMPLIANCE, versioned) still applies to every
 * version, so each replace adds a locked version rather than overwriting one: nothing is
 * ever destroyed, and the current version is the latest checkpoint.
 *
 * Comparing with what is there takes s3:GetObject. Without it (403) a first write still
 * goes through, guarded by If-None-Match; only a key that is already taken then fails, with
 * an error that names the permission.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EvidenceConflictError, type EvidenceSink } from '../evidence-sink.js';
import { putLockedOnce, s3Status, type S3Location } from './s3-target.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface S3EvidenceSinkOptions {
  readonly location: S3Location;
  /** Days of COMPLIANCE retention on each key written once. */
  readonly retentionDays: number;
  readonly now?: () => number;
}

/** S3 could not be reached, or refused a request; the message says what to check. */
export class EvidenceSinkError extends Error {
  override readonly name = 'EvidenceSinkError';
}

export class S3EvidenceSink implements EvidenceSink {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly retentionDays: number;
  private readonly now: () => number;

  constructor(
    private readonly client: S3Client,
    options: S3EvidenceSinkOptions,
  ) {
    this.bucket = options.location.bucket;
    const prefix = options.location.prefix;
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.retentionDays = options.retentionDays;
    this.now = options.now ?? Date.now;
  }

  async put(path: string, body: string, options: { replace?: boolean } = {}): Promise<void> {
    const segments = path.split('/');
    if (path.startsWith('/') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
      throw new EvidenceConflictError(`evidence path ${path} leaves the sink`);
    }
    const key = `${this.prefix}${path}`;
    const url = `s3://${this.bucket}/${key}`;
    const bytes = Buffer.from(body, 'utf8');
    if (options.replace) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: 'text/plain; charset=utf-8', ChecksumAlgorithm: 'SHA256' }));
      } catch (error) {
        throw failure(error, `PutObject ${url}`, 'the credentials need s3:PutObject under the evidence prefix');
      }
      return;
    }
    // s3rver and other S3-compatible stores ignore If-None-Match: look first, as s3-target.ts does.
    const before = await this.read(key, url, false);
    if (before === undefined) {
      let written: boolean;
      try {
        written = await putLockedOnce(this.client, {
          bucket: this.bucket,
          key,
          body: bytes,
          retainUntil: new Date(this.now() + this.retentionDays * DAY_MS),
          contentType: 'text/plain; charset=utf-8',
        });
      } catch (error) {
        throw failure(error, `PutObject ${url}`, 'the bucket must exist with Object Lock enabled, and the credentials need s3:PutObject and s3:PutObjectRetention under the evidence prefix');
      }
      if (written) return;
    }
    const existing = before ?? (await this.read(key, url, true));
    if (existing === undefined || !existing.equals(bytes)) {
      throw new EvidenceConflictError(`evidence ${url} already exists with other content; refusing to overwrite it`);
    }
  }

  /** The object's bytes; undefined when it is not there (or, unless `mustRead`, when reading is not allowed). */
  private async read(key: string, url: string, mustRead: boolean): Promise<Buffer | undefined> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Body ? Buffer.from(await Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (error) {
      const status = s3Status(error);
      if (status === 404) return undefined;
      // Without s3:GetObject (or s3:ListBucket for a missing key) S3 answers 403; If-None-Match still guards the put.
      if (status === 403 && !mustRead) return undefined;
      throw failure(
        error,
        `GetObject ${url}`,
        status === 403 ? 'the key is already taken and comparing it takes s3:GetObject under the evidence prefix' : 'check the bucket name and that the credentials may read it',
      );
    }
  }
}

function failure(error: unknown, request: string, fix: string): EvidenceSinkError {
  const status = s3Status(error);
  if (status !== undefined) {
    return new EvidenceSinkError(`S3 refused ${request}: ${(error as Error).name} (${status}): ${(error as Error).message}; ${fix}`, { cause: error });
  }
  const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.name : String(error));
  return new EvidenceSinkError(`cannot reach S3 for ${request} (${code}); check the endpoint, the region and the network, then try again`, { cause: error });
}
