/**
 * Recordings that leave the proxy (WARDEN_RECORDINGS=upload): POST /v1/recordings behind the
 * local HTTP adapter signs a PUT into the evidence bucket (s3rver), and the proxy's uploader
 * (proxy-fleet/ssh/recording-upload.ts) sends the file with the control plane client, as a task
 * in AWS does. s3rver does not check SigV4 signatures, so the test asserts what the URL signs;
 * S3 refuses a PUT whose signed headers differ.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { wardenConfigSchema } from '../../core/config.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { RECORDINGS_FOLDER, S3Recordings } from '../../functions/lib/evidence/s3-recordings.js';
import { loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime, type Runtime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';
import { sharedKey } from '../../proxy-fleet/control-plane-auth.js';
import { ControlPlaneClient } from '../../proxy-fleet/control-plane-client.js';
import { ControlPlaneRefusal } from '../../proxy-fleet/errors.js';
import { recordingUploader } from '../../proxy-fleet/ssh/recording-upload.js';
import type { RecordingSummary } from '../../proxy-fleet/ssh/asciicast.js';
import { S3RVER_CREDENTIALS, startTestS3, type TestS3 } from '../helpers/s3rver.js';

const PROXY_KEY = 'test-proxy-key-recordings-0123';
const BUCKET = 'warden-evidence';
const PREFIX = 'warden/evidence/';
const SESSION = '6f1d2c3b-0000-4000-8000-000000000001';
const CAST = '{"version":2,"width":80,"height":24}\n[0.1,"o","$ uptime\\r\\n"]\n';

describe('recordings uploaded to the evidence bucket', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let s3: TestS3;
  let api: LocalApi;
  let runtime: Runtime;
  let client: ControlPlaneClient;
  const logged: Record<string, unknown>[] = [];
  const savedEnv = { ...process.env };

  /** A finished recording on the proxy's disk, as AsciicastRecorder.close() describes it. */
  const recording = async (name: string, text = CAST): Promise<RecordingSummary> => {
    const path = join(dir, 'proxy-recordings', name);
    await writeFile(path, text);
    return { path, sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), events: 1, durationSeconds: 0.1 };
  };
  const uploader = () => recordingUploader({ target: (request) => client.recordingUpload(request), log: (event) => logged.push(event), pause: async () => undefined });

  before(async () => {
    Object.assign(process.env, S3RVER_CREDENTIALS);
    dir = await mkdtemp(join(tmpdir(), 'warden-recordings-'));
    await mkdir(join(dir, 'proxy-recordings'));
    store = await startDynalite({});
    s3 = await startTestS3();
    await s3.createBucket(BUCKET);
    const config = wardenConfigSchema.parse({});
    runtime = await buildRuntime({
      config,
      stateDir: dir,
      storeEndpoint: store.endpoint,
      proxyKey: PROXY_KEY,
      policy: await loadPolicyFile(undefined),
      recordingStore: new S3Recordings(s3.client, { bucket: BUCKET, prefix: PREFIX }, 30),
    });
    await ensureTables(runtime.client, config.store.tablePrefix);
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
    client = new ControlPlaneClient({ url: api.url, auth: sharedKey(PROXY_KEY) });
    const now = new Date().toISOString();
    await runtime.sessions.create({ id: SESSION, identity: { sub: 'bob', groups: [], chain: 'chn-bob', act: [] }, connection: 'box', startedAt: now, expiresAt: now, tokenId: 'jti-1' });
  });

  after(async () => {
    await api.close();
    await s3.close();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    process.env = savedEnv;
  });

  it('signs a PUT bound to the SHA-256, Object Lock COMPLIANCE for the retention, and no overwrite', async () => {
    const target = await client.recordingUpload({ sessionId: SESSION, commandId: 1, sha256: 'ab'.repeat(32), bytes: 10 });
    assert.equal(target.name, `${SESSION}-1.cast`);
    const url = new URL(target.url);
    assert.equal(url.pathname, `/${BUCKET}/${PREFIX}${RECORDINGS_FOLDER}${SESSION}-1.cast`);
    const signed = (url.searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');
    for (const header of ['content-length', 'content-type', 'if-none-match', 'x-amz-checksum-sha256', 'x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date']) {
      assert.ok(signed.includes(header), `${header} is signed: ${signed.join(';')}`);
    }
    assert.equal(target.headers['x-amz-checksum-sha256'], Buffer.from('ab'.repeat(32), 'hex').toString('base64'));
    assert.equal(target.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(target.headers['if-none-match'], '*');
    const retainDays = (Date.parse(target.headers['x-amz-object-lock-retain-until-date']!) - Date.now()) / 86_400_000;
    assert.ok(retainDays > 29.9 && retainDays <= 30, `retained for the configured 30 days, not ${retainDays}`);
    assert.ok(Number(url.searchParams.get('X-Amz-Expires')) <= 900, 'the URL is short-lived');
  });

  it('moves a finished recording to the bucket, removes the local copy, and records the name readers look up', async () => {
    const summary = await recording('shell.cast');
    const recorded = await uploader()(SESSION, 2, summary);
    assert.equal(recorded, `${SESSION}-2.cast`);
    assert.equal(existsSync(summary.path), false, 'the task keeps no copy once S3 has it');
    assert.equal((await s3.getObject(BUCKET, `${PREFIX}${RECORDINGS_FOLDER}${recorded}`)).toString(), CAST);
    const put = s3.requests.find((request) => request.method === 'PUT' && request.path.endsWith(recorded));
    assert.equal(put?.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
    assert.equal(put?.headers['x-amz-checksum-sha256'], Buffer.from(summary.sha256, 'hex').toString('base64'));
    // What the console and evidence bundles read back, by the name the result entry records.
    assert.equal((await runtime.evidence.readRecording(`/tmp/warden/recordings/${recorded}`))?.toString(), CAST);
    assert.equal(await runtime.evidence.readRecording(`${SESSION}-99.cast`), undefined);
    assert.equal(await runtime.evidence.readRecording('../../etc/passwd'), undefined);
  });

  it('refuses a session the control plane never opened, and the proxy keeps that recording on disk', async () => {
    await assert.rejects(client.recordingUpload({ sessionId: 'not-a-session', commandId: 1, sha256: 'ab'.repeat(32), bytes: 1 }), (error: Error) => error instanceof ControlPlaneRefusal && error.code === 'UNKNOWN_SESSION');
    const summary = await recording('orphan.cast');
    assert.equal(await uploader()('not-a-session', 1, summary), summary.path);
    assert.ok(existsSync(summary.path), 'nothing recorded is dropped');
    assert.equal(logged.at(-1)?.event, 'recording-upload-failed');
    assert.match(String(logged.at(-1)?.error), /no session not-a-session/);
  });

  it('keeps the recording on disk when the bucket is unreachable, and says so', async () => {
    const summary = await recording('offline.cast');
    await s3.stop();
    try {
      assert.equal(await uploader()(SESSION, 3, summary), summary.path);
    } finally {
      await s3.start();
    }
    assert.ok(existsSync(summary.path), 'the recording is still on the task');
    assert.equal(logged.at(-1)?.event, 'recording-upload-failed');
    assert.equal(logged.at(-1)?.path, summary.path);
  });

  it('refuses malformed requests with the field named', async () => {
    await assert.rejects(client.recordingUpload({ sessionId: SESSION, commandId: 1, sha256: 'not-hex', bytes: 1 }), (error: Error) => error instanceof ControlPlaneRefusal && error.code === 'INVALID_REQUEST' && /sha256/.test(error.message));
  });
});
