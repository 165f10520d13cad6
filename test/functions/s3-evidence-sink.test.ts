/**
 * The S3 evidence sink: checkpoints signed by the real Checkpointer land in s3rver under the
 * evidence prefix, immutable keys with COMPLIANCE retention and If-None-Match (s3rver stores
 * neither, so the request is checked), latest.note replaced; a same-bytes rewrite is accepted
 * and other bytes are refused as DirectorySink refuses them. S3's own answer to a taken key
 * (412, which s3rver never gives) is played by a stub client. The Lambda runtime picks the
 * sink when WARDEN_EVIDENCE_BUCKET is set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { parseCheckpoint } from '../../core/ledger/checkpoint.js';
import { openNote } from '../../core/ledger/signed-note.js';
import { Checkpointer } from '../../functions/lib/checkpointer.js';
import { createDynamoClient } from '../../functions/lib/dynamodb.js';
import { DirectorySink, EvidenceConflictError } from '../../functions/lib/evidence-sink.js';
import { EvidenceSinkError, S3EvidenceSink } from '../../functions/lib/evidence/s3-sink.js';
import { buildLambdaRuntime } from '../../functions/lib/lambda-runtime.js';
import { ORIGIN, draft, startTestLedger, type TestLedger } from '../helpers/ledger.js';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../helpers/s3rver.js';

const BUCKET = 'warden-evidence';
const PREFIX = 'warden/evidence/';
const NOW = Date.parse('2030-01-02T03:04:05.000Z');
const RETENTION_DAYS = 30;
const RETAIN_UNTIL = new Date(NOW + RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();

describe('S3EvidenceSink', () => {
  let ledger: TestLedger;
  let s3: TestS3;
  let sink: S3EvidenceSink;
  let checkpointer: Checkpointer;

  const sizeKey = (size: number) => `${PREFIX}checkpoints/${String(size).padStart(20, '0')}.note`;
  const text = async (key: string) => (await s3.getObject(BUCKET, key)).toString('utf8');
  const putsTo = (key: string) => s3.requests.filter((request) => request.method === 'PUT' && request.path === `/${BUCKET}/${key}`);
  const grow = async (n: number) => {
    await ledger.writer.append(Array.from({ length: n }, (_, i) => draft('s3-sink', 'command', i)));
    await ledger.integrator.integrateAll();
  };

  before(async () => {
    Object.assign(process.env, S3RVER_CREDENTIALS);
    [ledger, s3] = await Promise.all([startTestLedger(), startTestS3()]);
    await s3.createBucket(BUCKET);
    sink = new S3EvidenceSink(s3.client, { location: { bucket: BUCKET, prefix: 'warden/evidence' }, retentionDays: RETENTION_DAYS, now: () => NOW });
    checkpointer = new Checkpointer(createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' }), ledger.reader, ledger.signer, ORIGIN, sink);
  });
  after(async () => {
    await Promise.all([ledger.close(), s3.close()]);
  });

  it('writes checkpoints under the prefix, each once under COMPLIANCE retention, and replaces latest.note', async () => {
    assert.equal(sink.location, `s3://${BUCKET}/${PREFIX}`);
    await grow(3);
    const first = await checkpointer.checkpoint();
    assert.ok(first?.signed);
    const size = first.checkpoint.size;
    assert.equal(await text(sizeKey(size)), first.note);
    assert.equal(await text(`${PREFIX}checkpoints/latest.note`), first.note);
    assert.equal(parseCheckpoint(openNote(first.note, [ledger.verifier]).text).size, size);

    const [locked] = putsTo(sizeKey(size));
    assert.ok(locked);
    assert.equal(locked.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(Date.parse(String(locked.headers['x-amz-object-lock-retain-until-date'])), Date.parse(RETAIN_UNTIL));
    assert.equal(locked.headers['if-none-match'], '*');
    assert.ok(locked.headers['x-amz-checksum-sha256'] ?? locked.headers['x-amz-trailer'], 'the put carries a checksum, as a locked PutObject must');
    const [pointer] = putsTo(`${PREFIX}checkpoints/latest.note`);
    assert.ok(pointer);
    assert.equal(pointer.headers['x-amz-object-lock-mode'], undefined);
    assert.equal(pointer.headers['if-none-match'], undefined);

    await grow(2);
    const second = await checkpointer.checkpoint();
    assert.ok(second?.signed);
    assert.notEqual(second.checkpoint.size, size);
    assert.equal(await text(sizeKey(second.checkpoint.size)), second.note);
    assert.equal(await text(`${PREFIX}checkpoints/latest.note`), second.note, 'latest.note now names the new checkpoint');
    assert.equal(await text(sizeKey(size)), first.note, 'the first checkpoint stays');
    assert.equal(putsTo(`${PREFIX}checkpoints/latest.note`).length, 2);

    const again = await checkpointer.checkpoint();
    assert.equal(again?.signed, false);
  });

  it('accepts the same bytes again and refuses other bytes with EvidenceConflictError', async () => {
    const key = 'checkpoints/00000000000000000099.note';
    await sink.put(key, 'note one\n');
    const puts = putsTo(`${PREFIX}${key}`).length;
    await sink.put(key, 'note one\n');
    assert.equal(putsTo(`${PREFIX}${key}`).length, puts, 'an identical object is success without another write');
    await assert.rejects(sink.put(key, 'note two\n'), (error: Error) => error instanceof EvidenceConflictError && error.message.includes(`s3://${BUCKET}/${PREFIX}${key}`));
    assert.equal(await text(`${PREFIX}${key}`), 'note one\n');
    await assert.rejects(sink.put('../outside.note', 'x'), EvidenceConflictError);
  });

  it('on S3, compares after If-None-Match refuses a taken key, and names s3:GetObject when it cannot read it', async () => {
    const stub = (existing: string | 'forbidden') => {
      const sent: string[] = [];
      let gets = 0;
      const client = {
        send: async (command: unknown) => {
          if (command instanceof PutObjectCommand) {
            sent.push('PUT');
            throw serviceError('PreconditionFailed', 412);
          }
          if (command instanceof GetObjectCommand) {
            sent.push('GET');
            // The first read is refused as a missing key is without s3:ListBucket; a taken key is then read (or not).
            if (gets++ === 0 || existing === 'forbidden') throw serviceError('AccessDenied', 403);
            return { Body: { transformToByteArray: async () => new Uint8Array(Buffer.from(existing)) } };
          }
          throw new Error('unexpected command');
        },
      } as unknown as S3Client;
      return { sent, sink: new S3EvidenceSink(client, { location: { bucket: BUCKET, prefix: PREFIX }, retentionDays: 1 }) };
    };
    const same = stub('note\n');
    await same.sink.put('checkpoints/1.note', 'note\n');
    assert.deepEqual(same.sent, ['GET', 'PUT', 'GET']);
    await assert.rejects(stub('other\n').sink.put('checkpoints/1.note', 'note\n'), EvidenceConflictError);
    await assert.rejects(stub('forbidden').sink.put('checkpoints/1.note', 'note\n'), (error: Error) => error instanceof EvidenceSinkError && /s3:GetObject/.test(error.message));
  });

  it('is the Lambda runtime checkpoint sink when WARDEN_EVIDENCE_BUCKET is set', async () => {
    const base = { AWS_REGION: 'eu-west-1', WARDEN_TABLE_PREFIX: 'warden-s3-sink-test' };
    const withBucket = await buildLambdaRuntime({ ...base, WARDEN_EVIDENCE_BUCKET: BUCKET, WARDEN_EVIDENCE_PREFIX: PREFIX, WARDEN_EVIDENCE_RETENTION_DAYS: '30' });
    assert.ok(withBucket.evidence.checkpoints instanceof S3EvidenceSink);
    assert.equal(withBucket.evidence.checkpoints.location, `s3://${BUCKET}/${PREFIX}`);
    const without = await buildLambdaRuntime(base);
    assert.ok(without.evidence.checkpoints instanceof DirectorySink);
  });
});

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });
}

