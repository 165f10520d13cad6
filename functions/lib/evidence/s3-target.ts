/**
 * Evidence bundles in S3, under Object Lock in COMPLIANCE mode: once written, nobody (the
 * account root included) can delete or overwrite a bundle before its retention date. The bucket
 * must have Object Lock enabled (the CDK evidence stack creates it so); S3 refuses a locked
 * PutObject on a bucket without it.
 *
 * S3-compatible test servers differ: s3rver 3.7.1 accepts the Object Lock headers but neither
 * stores nor enforces them, ignores If-None-Match on PUT, and does not check checksums. The
 * HeadObject before the put is what refuses a second bundle there; on S3, If-None-Match makes
 * the refusal atomic.
 */
import { HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { S3_BUCKET_NAME } from '../../../core/config.js';
import { BundleTargetError, s3Location, type BundleTarget } from './bundle-target.js';

export interface S3Location {
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
}

export interface S3Settings {
  readonly region: string;
  /** An S3-compatible endpoint; unset: AWS. */
  readonly endpoint?: string | undefined;
  readonly forcePathStyle: boolean;
}

export interface PutBundleRequest {
  readonly bucket: string;
  readonly key: string;
  readonly body: Buffer;
  readonly retainUntil: Date;
}

/** Credentials come from the default chain (environment, profile, role): S3-compatible stores check them too. */
export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    // A bucket in another region answers with a redirect; follow it rather than fail.
    followRegionRedirects: true,
  });
}

/** `s3://bucket/some/prefix` → bucket and 'some/prefix/'; `s3://bucket` → the bucket's top. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) throw new BundleTargetError(`"${url}" is not an S3 URL: write s3://BUCKET or s3://BUCKET/PREFIX`, 'invalid');
  const bucket = match[1]!;
  if (!S3_BUCKET_NAME.test(bucket)) {
    throw new BundleTargetError(`"${bucket}" in ${url} is not an S3 bucket name: 3 to 63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit`, 'invalid');
  }
  const path = match[2] ?? '';
  const segments = path === '' ? [] : path.replace(/\/$/, '').split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new BundleTargetError(`the prefix "${path}" in ${url} has an empty, "." or ".." segment; write s3://${bucket}/some/prefix`, 'invalid');
  }
  return { bucket, prefix: path === '' || path.endsWith('/') ? path : `${path}/` };
}

/** Writes one bundle, refusing (reason 'exists') when the key is taken. */
export async function putBundle(client: S3Client, { bucket, key, body, retainUntil }: PutBundleRequest): Promise<void> {
  const url = `s3://${bucket}/${key}`;
  if (await exists(client, bucket, key, url)) throw alreadyThere(url);
  let written: boolean;
  try {
    written = await putLockedOnce(client, { bucket, key, body, retainUntil, contentType: 'application/gzip' });
  } catch (error) {
    throw failure(error, `PutObject ${url}`, 'the bucket must exist with Object Lock enabled, and the credentials need s3:PutObject and s3:PutObjectRetention');
  }
  if (!written) throw alreadyThere(url);
}

export interface PutLockedRequest extends PutBundleRequest {
  readonly contentType: string;
}

/**
 * PutObject under COMPLIANCE retention until `retainUntil`, only if the key is free
 * (If-None-Match): false when it is taken, S3's error otherwise. Shared by bundles and the
 * checkpoint sink (s3-sink.ts).
 */
export async function putLockedOnce(client: S3Client, { bucket, key, body, retainUntil, contentType }: PutLockedRequest): Promise<boolean> {
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        ChecksumAlgorithm: 'SHA256',
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: retainUntil,
        IfNoneMatch: '*',
      }),
    );
    return true;
  } catch (error) {
    // 412: the key was written since the caller looked; 409: a concurrent conditional write won.
    const status = s3Status(error);
    if (status === 412 || status === 409) return false;
    throw error;
  }
}

/** The HTTP status of an S3 error; undefined when S3 did not answer. */
export function s3Status(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

/** Bundles under `location`, named by their window. */
export function s3Target(client: S3Client, location: S3Location): BundleTarget {
  return {
    location: `s3://${location.bucket}/${location.prefix}`,
    locate: (window) => s3Location(location, window),
    put: async (window, body, retainUntil) => {
      const stored = s3Location(location, window);
      await putBundle(client, { bucket: location.bucket, key: stored.key, body, retainUntil });
      return stored;
    },
  };
}

async function exists(client: S3Client, bucket: string, key: string, url: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const status = s3Status(error);
    // Without s3:ListBucket a missing key answers 403, not 404: the put's If-None-Match still guards it.
    if (status === 404 || status === 403) return false;
    throw failure(error, `HeadObject ${url}`, 'check the bucket name and that the credentials may read it');
  }
}

function alreadyThere(url: string): BundleTargetError {
  return new BundleTargetError(`${url} already exists; a bundle is never overwritten (export another window)`, 'exists');
}

function failure(error: unknown, request: string, fix: string): BundleTargetError {
  if (error instanceof S3ServiceException) {
    return new BundleTargetError(`S3 refused ${request}: ${error.name} (${error.$metadata.httpStatusCode ?? 'no status'}): ${error.message}; ${fix}`, 'refused', { cause: error });
  }
  const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.name : String(error));
  return new BundleTargetError(`cannot reach S3 for ${request} (${code}); check evidence.export.s3 (endpoint, region) and the network, then try again`, 'unreachable', { cause: error });
}
