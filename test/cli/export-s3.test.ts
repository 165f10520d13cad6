/**
 * `warden export --s3` against a running `warden up`, writing to s3rver over the real S3
 * protocol: the object is the bundle, verifies with the log's public key, was sent under
 * Object Lock, and is never overwritten. Also the command's usage errors, and the
 * evidence.export configuration's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { unpackBundle } from '../../core/evidence/archive.js';
import { verifyBundle } from '../../core/evidence/verify-bundle.js';
import { BundleTargetError } from '../../functions/lib/evidence/bundle-target.js';
import { parseS3Url } from '../../functions/lib/evidence/s3-target.js';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../helpers/s3rver.js';
import { runCli, startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const BUCKET = 'audit-evidence';

interface Summary {
  location: string;
  retainUntil: string;
  sha256: string;
  bytes: number;
  entries: { count: number };
  verified: boolean;
}

describe('warden export --s3', () => {
  let s3: TestS3;
  let warden: RunningTestWarden;
  // A fixed window, set once warden up has recorded its configuration, so the second export asks for the same one.
  let from: string;
  let to: string;
  let key: string;
  const exportTo = (url: string) => warden.cli(['export', '--from', from, '--to', to, '--s3', url, '--json']);

  before(async () => {
    s3 = await startTestS3();
    await s3.createBucket(BUCKET);
    warden = await startTestWarden(
      // The CLI takes the bucket from --s3, and endpoint, path style and retention from here.
      { demo: 'never', evidence: { export: { intervalMinutes: 5, retentionDays: 30, s3: { bucket: 'scheduled-evidence', endpoint: s3.endpoint, forcePathStyle: true } } } },
      { ...S3RVER_CREDENTIALS, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    );
    to = new Date().toISOString();
    from = new Date(Date.parse(to) - 3_600_000).toISOString();
    key = `q4/audit/${from.replaceAll(':', '-')}--${to.replaceAll(':', '-')}.tar.gz`;
  });

  after(async () => {
    await warden?.stop();
    await s3?.close();
  });

  it('puts the bundle under the URL\'s prefix, locked for retentionDays, and it verifies with the log key', async () => {
    const result = await exportTo(`s3://${BUCKET}/q4/audit`);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Summary;
    assert.equal(summary.location, `s3://${BUCKET}/${key}`);
    assert.ok(summary.verified && summary.entries.count >= 1, 'the config snapshot of warden up is in the window');
    const retainDays = (Date.parse(summary.retainUntil) - Date.now()) / 86_400_000;
    assert.ok(retainDays > 29.9 && retainDays <= 30, `retained for ${retainDays} days`);

    const bytes = await s3.getObject(BUCKET, key);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), summary.sha256);
    const vkey = await readFile(join(warden.dir, 'state', 'keys', 'log.vkey'), 'utf8');
    const report = verifyBundle(await unpackBundle(bytes), vkey);
    assert.ok(report.ok, JSON.stringify(report.checks));
    assert.equal(report.manifest!.from, from);
    assert.equal(report.manifest!.to, to);

    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.ContentType, 'application/gzip');
    assert.equal(head.ContentLength, summary.bytes);
    // s3rver neither stores nor returns Object Lock settings (HeadObject has no ObjectLockMode),
    // so the headers are checked on the request it received.
    const puts = s3.requests.filter((request) => request.method === 'PUT' && request.path === `/${BUCKET}/${key}`);
    assert.equal(puts.length, 1);
    const sent = puts[0]!.headers;
    assert.equal(sent['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(sent['x-amz-object-lock-retain-until-date'], summary.retainUntil);
    assert.equal(sent['x-amz-checksum-sha256'], createHash('sha256').update(bytes).digest('base64'));
    assert.equal(sent['if-none-match'], '*');
  });

  it('refuses to export the same window again, and leaves the object as it was', async () => {
    const before = await s3.getObject(BUCKET, key);
    const again = await exportTo(`s3://${BUCKET}/q4/audit/`);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`s3://${BUCKET}/${key} already exists; a bundle is never overwritten`));
    assert.ok((await s3.getObject(BUCKET, key)).equals(before));
    assert.equal(s3.requests.filter((request) => request.method === 'PUT' && request.path === `/${BUCKET}/${key}`).length, 1, 'no second put was sent');
  });

  it('has warden up export on a timer when intervalMinutes is set', () => {
    assert.match(warden.output(), /evidence export every 5 min to s3:\/\/scheduled-evidence\/warden\/evidence\//);
  });

  it('takes exactly one of --out and --s3, and a valid S3 URL (exit 2)', async () => {
    const [both, neither, bucket] = await Promise.all([
      warden.cli(['export', '--from', '1h', '--out', join(warden.dir, 'b.tar.gz'), '--s3', `s3://${BUCKET}`]),
      runCli(['export', '--from', '1h']),
      exportTo('s3://Audit_Evidence/x'),
    ]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --out FILE and --s3 s3:\/\/BUCKET\/PREFIX/);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /exactly one of --out FILE and --s3/);
    assert.equal(bucket.code, 2);
    assert.match(bucket.stderr, /"Audit_Evidence" in s3:\/\/Audit_Evidence\/x is not an S3 bucket name/);
  });

  it('reads s3://BUCKET/PREFIX as a bucket and a folder-like prefix, and says what is wrong with others', () => {
    assert.deepEqual(parseS3Url('s3://audit-evidence'), { bucket: 'audit-evidence', prefix: '' });
    assert.deepEqual(parseS3Url('s3://audit-evidence/'), { bucket: 'audit-evidence', prefix: '' });
    assert.deepEqual(parseS3Url('s3://audit.evidence/q4/audit'), { bucket: 'audit.evidence', prefix: 'q4/audit/' });
    assert.deepEqual(parseS3Url('s3://audit-evidence/q4/audit/'), { bucket: 'audit-evidence', prefix: 'q4/audit/' });
    const invalid = (url: string, message: RegExp) => assert.throws(() => parseS3Url(url), (error: unknown) => error instanceof BundleTargetError && error.reason === 'invalid' && message.test(error.message));
    invalid(`https://${BUCKET}/x`, /is not an S3 URL: write s3:\/\/BUCKET or s3:\/\/BUCKET\/PREFIX/);
    invalid('s3://', /"" in s3:\/\/ is not an S3 bucket name/);
    invalid('s3://ab/x', /"ab" .* is not an S3 bucket name/);
    invalid(`s3://${BUCKET}//x`, /has an empty, "\." or "\.\." segment/);
    invalid(`s3://${BUCKET}/a/../b`, /has an empty, "\." or "\.\." segment/);
  });

  it('names each invalid evidence.export field (exit 2)', async () => {
    const config = join(warden.dir, 'bad-evidence.yaml');
    await writeFile(config, 'evidence:\n  export:\n    intervalMinutes: 3\n    retentionDays: 0\n    s3: { bucket: My_Bucket, prefix: /evidence, forcePathstyle: true }\n');
    const result = await runCli(['--config', config, 'up']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /evidence\.export\.intervalMinutes: use 0 \(off\) or at least 5 minutes/);
    assert.match(result.stderr, /evidence\.export\.retentionDays: .*>=1/);
    assert.match(result.stderr, /evidence\.export\.s3\.bucket: an S3 bucket name/);
    assert.match(result.stderr, /evidence\.export\.s3\.prefix: end the prefix with "\/"/);
    assert.match(result.stderr, /evidence\.export\.s3: Unrecognized key: "forcePathstyle"/);
  });
});
