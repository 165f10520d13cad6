/**
 * The control plane as Lambda runs it: no `warden up`, only the environment infra sets. The
 * store is dynalite, KMS and Secrets Manager are local servers speaking the SDK's protocol, and
 * the SDK finds all three through its own AWS_ENDPOINT_URL_* variables.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Handler, ScheduledEvent } from 'aws-lambda';
import { SYSTEM_SESSION } from '../../core/ledger/entry.js';
import { openNote, parseVerifierKey } from '../../core/ledger/signed-note.js';
import { createDynamoClient, startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { LambdaEnvironmentError, buildLambdaRuntime } from '../../functions/lib/lambda-runtime.js';
import { getRuntime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import type { AwsJsonServer } from '../helpers/aws-json-server.js';
import { startLocalKms, type LocalKms } from '../helpers/local-kms.js';
import { startLocalSecretsManager } from '../helpers/local-secrets-manager.js';
import { httpEvent, invoke, lambdaContext } from './lambda-invocation.js';

const ROLE = 'arn:aws:iam::123456789012:role/warden-proxy-task';
const DIGEST_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warden-digest-AbCdEf';
const PREFIX = 'warden-lambda-test';

describe('the control plane in Lambda', () => {
  let store: EmbeddedDynalite;
  let kms: LocalKms;
  let secrets: AwsJsonServer;
  let temp: string;
  let env: Record<string, string>;

  before(async () => {
    [store, kms, secrets, temp] = await Promise.all([startDynalite({}), startLocalKms(), startLocalSecretsManager({ [DIGEST_ARN]: 'digest-key-from-secrets-manager' }), mkdtemp(join(tmpdir(), 'warden-lambda-'))]);
    await ensureTables(createDynamoClient({ endpoint: store.endpoint, region: 'eu-west-1' }), PREFIX);
    env = {
      AWS_REGION: 'eu-west-1',
      WARDEN_TABLE_PREFIX: PREFIX,
      WARDEN_CONFIG_YAML: 'ledger:\n  origin: warden.example/ledger\n',
      WARDEN_TOKEN_KEY_ID: kms.createKey('RSA_2048'),
      WARDEN_TOKEN_ISSUER: 'https://api.warden.example',
      WARDEN_LOG_KEY_ID: kms.createKey('ECC_NIST_EDWARDS25519'),
      WARDEN_DIGEST_KEY_SECRET_ARN: DIGEST_ARN,
      WARDEN_PROXY_ROLE_ARN: ROLE,
    };
    // What Lambda and the function's configuration would set; the handlers' modules read some at load.
    Object.assign(process.env, env, {
      AWS_LAMBDA_FUNCTION_NAME: 'warden-test',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: store.endpoint,
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      TMPDIR: temp,
    });
  });
  after(async () => {
    await Promise.all([store.close(), kms.close(), secrets.close(), rm(temp, { recursive: true, force: true })]);
  });

  it('builds the runtime on the first invocation and serves a proxy route to the proxy role', async () => {
    const { handler } = (await import('../../functions/sessions-status.js')) as { handler: Handler };
    const event = httpEvent({ method: 'POST', route: '/v1/sessions/status', headers: { 'content-type': 'application/json' }, body: '{"sessionIds":["s-unknown"]}', iamCaller: 'arn:aws:sts::123456789012:assumed-role/warden-proxy-task/task-1' });
    const response = await invoke(handler, event);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(JSON.parse(response.body ?? ''), { end: [{ sessionId: 's-unknown', reason: 'the control plane does not know this session' }] });
    const runtime = getRuntime();
    assert.equal(runtime.config.store.tablePrefix, PREFIX);
    assert.equal(runtime.config.tokens.issuer, 'https://api.warden.example');
    assert.equal(runtime.devIssuer, undefined);
    assert.equal(runtime.digestKey.toString('utf8'), 'digest-key-from-secrets-manager');
    assert.equal(runtime.tokens.jwks().keys[0]?.alg, 'RS256');
  });

  it('integrates and checkpoints with the KMS log key in the scheduled handlers', async () => {
    const runtime = getRuntime();
    await runtime.ledger.append([{ session: SYSTEM_SESSION, type: 'config.snapshot', time: new Date().toISOString(), identity: { sub: 'warden', groups: [], chain: SYSTEM_SESSION, act: [] }, connection: '', digest: 'd', data: {} }]);
    const scheduled = {} as ScheduledEvent;
    const { handler: integrate } = (await import('../../infra/handlers/integrate.js')) as { handler: Handler };
    const { handler: checkpoint } = (await import('../../infra/handlers/checkpoint.js')) as { handler: Handler };
    await integrate(scheduled, lambdaContext(), () => undefined);
    assert.deepEqual(await checkpoint(scheduled, lambdaContext(), () => undefined), { size: 1, signed: true });
    const note = await readFile(join(runtime.evidence.checkpoints.location, 'checkpoints', 'latest.note'), 'utf8');
    assert.match(openNote(note, [parseVerifierKey(runtime.logSigner.vkey)]).text, /^warden\.example\/ledger\n1\n/);
    assert.ok(kms.calls.includes('Sign'));
  });

  it('names a missing or malformed variable', async () => {
    const { WARDEN_TABLE_PREFIX: _, ...withoutPrefix } = env;
    await assert.rejects(buildLambdaRuntime(withoutPrefix), (error: Error) => error instanceof LambdaEnvironmentError && /WARDEN_TABLE_PREFIX is not set/.test(error.message));
    await assert.rejects(buildLambdaRuntime({ ...env, WARDEN_DIGEST_KEY_SECRET_ARN: 'warden-digest' }), /WARDEN_DIGEST_KEY_SECRET_ARN is not an ARN/);
    const { WARDEN_TOKEN_ISSUER: __, ...withoutIssuer } = env;
    await assert.rejects(buildLambdaRuntime(withoutIssuer), /WARDEN_TOKEN_ISSUER is not set, but WARDEN_TOKEN_KEY_ID is/);
    await assert.rejects(buildLambdaRuntime({ ...env, WARDEN_CONFIG_YAML: 'ledger: [' }), /WARDEN_CONFIG_YAML is not valid YAML/);
  });

  it('fails on use, naming the variable, when a function was not given a key', async () => {
    const { WARDEN_DIGEST_KEY_SECRET_ARN: _, ...withoutDigest } = env;
    const runtime = await buildLambdaRuntime(withoutDigest);
    assert.throws(() => runtime.digestKey, /WARDEN_DIGEST_KEY_SECRET_ARN is not set for this function/);
  });
});
