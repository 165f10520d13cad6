/**
 * The control plane as Lambda runs it: no `warden up`, only the environment infra sets. The
 * store is dynalite, KMS and Secrets Manager are local servers speaking the SDK's protocol, and
 * the SDK finds all three through its own AWS_ENDPOINT_URL_* variables.
 */
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Handler, ScheduledEvent } from 'aws-lambda';
import { SYSTEM_SESSION } from '../../core/ledger/entry.js';
import { openNote, parseVerifierKey } from '../../core/ledger/signed-note.js';
import { createDynamoClient, startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { LambdaEnvironmentError, buildLambdaRuntime } from '../../functions/lib/lambda-runtime.js';
import { getRuntime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { BUNDLED_CONFIG_FILE, BUNDLED_POLICY_FILE, bundling } from '../../infra/constructs/control-plane-function.js';
import { readConfigFile } from '../../infra/settings.js';
import type { AwsJsonServer } from '../helpers/aws-json-server.js';
import { startLocalKms, type LocalKms } from '../helpers/local-kms.js';
import { startLocalSecretsManager } from '../helpers/local-secrets-manager.js';
import { httpEvent, invoke, lambdaContext } from './lambda-invocation.js';

const ROLE = 'arn:aws:iam::123456789012:role/warden-proxy-task';
const DIGEST_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warden-digest-AbCdEf';
const PREFIX = 'warden-lambda-test';
const repo = fileURLToPath(new URL('../..', import.meta.url));
const CUSTOM_POLICY = '@id("custom-select-only")\npermit (principal, action == Warden::Action::"sql:select", resource);\n';

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

  describe('with the configFile in the bundle', () => {
    let configDir: string;
    let bundle: string;
    let fromFile: Record<string, string>;

    before(async () => {
      // The config and its policy file, copied into a bundle directory by the functions' own afterBundling commands.
      configDir = join(temp, 'config');
      bundle = join(temp, 'bundle');
      await mkdir(join(configDir, 'policies'), { recursive: true });
      await mkdir(bundle);
      await writeFile(join(configDir, 'warden.yaml'), 'ledger:\n  origin: bundled.example/ledger\npolicy:\n  file: policies/custom.cedar\n');
      await writeFile(join(configDir, 'policies', 'custom.cedar'), CUSTOM_POLICY);
      for (const command of bundling(readConfigFile(join(configDir, 'warden.yaml'))).commandHooks!.afterBundling(repo, bundle)) execSync(command);
      const { WARDEN_CONFIG_YAML: _, ...withoutYaml } = env;
      fromFile = withoutYaml;
    });

    it('reads warden.yaml and the policy file beside the bundle, as infra names them', async () => {
      const runtime = await buildLambdaRuntime({ ...fromFile, LAMBDA_TASK_ROOT: bundle, WARDEN_CONFIG_FILE: BUNDLED_CONFIG_FILE, WARDEN_POLICY_FILE: BUNDLED_POLICY_FILE });
      assert.equal(runtime.config.ledger.origin, 'bundled.example/ledger');
      assert.equal(runtime.config.store.tablePrefix, PREFIX, 'the deployment still decides the tables');
      assert.deepEqual(runtime.policy.policyIds, ['custom-select-only']);
    });

    it("finds the config's policy.file relative to the config without WARDEN_POLICY_FILE, else the default set", async () => {
      const relative = await buildLambdaRuntime({ ...fromFile, WARDEN_CONFIG_FILE: join(configDir, 'warden.yaml') });
      assert.deepEqual(relative.policy.policyIds, ['custom-select-only']);
      const inline = await buildLambdaRuntime(env);
      assert.ok(inline.policy.policyIds.includes('no-schema-changes'), 'WARDEN_CONFIG_YAML without policy.file: the shipped default set');
    });

    it('names the file it cannot read or parse, and refuses both a file and inline text', async () => {
      await assert.rejects(
        buildLambdaRuntime({ ...fromFile, LAMBDA_TASK_ROOT: temp, WARDEN_CONFIG_FILE: BUNDLED_CONFIG_FILE }),
        (error: Error) => error instanceof LambdaEnvironmentError && error.message.startsWith(`WARDEN_CONFIG_FILE: cannot read ${join(temp, BUNDLED_CONFIG_FILE)} (ENOENT)`),
      );
      await writeFile(join(temp, 'broken.yaml'), 'ledger: [');
      await assert.rejects(buildLambdaRuntime({ ...fromFile, LAMBDA_TASK_ROOT: temp, WARDEN_CONFIG_FILE: 'broken.yaml' }), new RegExp(`WARDEN_CONFIG_FILE ${join(temp, 'broken.yaml')} is not valid YAML`));
      await assert.rejects(buildLambdaRuntime({ ...env, LAMBDA_TASK_ROOT: bundle, WARDEN_CONFIG_FILE: BUNDLED_CONFIG_FILE }), /WARDEN_CONFIG_YAML is set, but so is WARDEN_CONFIG_FILE/);
    });
  });

  it('fails on use, naming the variable, when a function was not given a key', async () => {
    const { WARDEN_DIGEST_KEY_SECRET_ARN: _, ...withoutDigest } = env;
    const runtime = await buildLambdaRuntime(withoutDigest);
    assert.throws(() => runtime.digestKey, /WARDEN_DIGEST_KEY_SECRET_ARN is not set for this function/);
  });
});
