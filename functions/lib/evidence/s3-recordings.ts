/**
 * Session recordings in the evidence bucket, under RECORDINGS_FOLDER of the evidence prefix. In
 * AWS a proxy task's disk does not outlive the task, so the proxy puts each finished recording
 * here through a presigned PUT the control plane signs (functions/recordings-upload.ts): the
 * task role gets no S3 access of its own. The signed headers bind the upload to the SHA-256 the
 * proxy reports, put it under Object Lock in COMPLIANCE mode, and refuse to replace an object.
 *
 * Readers (the console, evidence bundles) find a recording by the file name the ledger holds and
 * check its SHA-256 against the ledger themselves.
 */
import { GetObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Location } from './s3-target.js';

export const RECORDINGS_FOLDER = 'recordings/';

/** How long the proxy has to start its PUT. */
const UPLOAD_URL_SECONDS = 900;

/** A recording's name, as the gateway writes it: SESSION-COMMAND.cast. */
const RECORDING_NAME = /^[A-Za-z0-9_-]{1,200}-\d{1,15}\.cast$/;

export interface RecordingUpload {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly expiresAt: string;
}

export class S3Recordings {
  constructor(
    private readonly client: S3Client,
    private readonly location: S3Location,
    private readonly retentionDays: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The recording the ledger names by `path` (its file name only is used); undefined when there is none. */
  async read(path: string): Promise<Buffer | undefined> {
    const name = path.split('/').at(-1) ?? '';
    if (!RECORDING_NAME.test(name)) return undefined;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) }));
      return object.Body ? Buffer.from(await object.Body.transformToByteArray()) : undefined;
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)) return undefined;
      throw error;
    }
  }

  /** A PUT of exactly these bytes under `name`, locked for the retention period, that never replaces an object. */
  async uploadTarget(name: string, sha256Hex: string, bytes: number): Promise<RecordingUpload> {
    if (!RECORDING_NAME.test(name)) throw new Error(`"${name}" is not a recording name (SESSION-COMMAND.cast)`);
    const now = this.now();
    const retainUntil = new Date(now + this.retentionDays * 86_400_000);
    const headers = {
      'content-type': 'application/x-asciicast',
      'x-amz-checksum-sha256': Buffer.from(sha256Hex, 'hex').toString('base64'),
      'x-amz-object-lock-mode': 'COMPLIANCE',
      'x-amz-object-lock-retain-until-date': retainUntil.toISOString(),
      'if-none-match': '*',
    };
    const command = new PutObjectCommand({
      Bucket: this.location.bucket,
      Key: this.key(name),
      ContentLength: bytes,
      ContentType: headers['content-type'],
      ChecksumSHA256: headers['x-amz-checksum-sha256'],
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: retainUntil,
      IfNoneMatch: '*',
    });
    // Unhoisted, these stay signed headers the PUT must carry as given, rather than query parameters.
    const url = await getSignedUrl(this.client, command, { expiresIn: UPLOAD_URL_SECONDS, signableHeaders: new Set(['content-type']), unhoistableHeaders: new Set(Object.keys(headers)) });
    return { name, url, headers, expiresAt: new Date(now + UPLOAD_URL_SECONDS * 1000).toISOString() };
  }

  private key(name: string): string {
    return `${this.location.prefix}${RECORDINGS_FOLDER}${name}`;
  }
}
