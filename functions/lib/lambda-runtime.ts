/**
 * The Runtime of a control-plane Lambda, built once per cold start from the environment that
 * infra/constructs/control-plane-function.ts sets:
 *
 *   AWS_REGION                         set by Lambda; the region of the store, KMS and secrets
 *   WARDEN_TABLE_PREFIX                required
 *   WARDEN_CONFIG_FILE                 warden.yaml (connections, masking, approvals…), a file in the
 *                                      bundle: infra ships it there, as Lambda caps the environment at 4 KB
 *   WARDEN_CONFIG_YAML                 or its text, as the proxy fleet reads it (not both); neither: every default applies
 *   WARDEN_POLICY_FILE                 the Cedar policy file, in place of the config's policy.file
 *                                      (relative to the config); neither: the shipped default set
 *   WARDEN_TOKEN_KEY_ID, WARDEN_TOKEN_ISSUER     the KMS RSA key of RS256 Warden tokens, and their `iss`
 *   WARDEN_TOKEN_AUDIENCE              an `aud` every token also carries: the one the API's JWT authorizer requires
 *   WARDEN_LOG_KEY_ID                  the KMS Ed25519 key of checkpoints and manifests
 *   WARDEN_DIGEST_KEY_SECRET_ARN       the HMAC key of payload digests (Secrets Manager)
 *   WARDEN_SLACK_WEBHOOK_URL_SECRET_ARN, WARDEN_SLACK_SIGNING_SECRET_ARN   Slack's secrets
 *   WARDEN_EVIDENCE_BUCKET, WARDEN_EVIDENCE_PREFIX, WARDEN_EVIDENCE_RETENTION_DAYS   scheduled bundles
 *   WARDEN_IDP_ISSUER, WARDEN_IDP_AUDIENCE       the identity provider POST /v1/token exchanges for
 *
 * Relative files are found in the bundle: under LAMBDA_TASK_ROOT (set by Lambda), else the
 * current directory. Each function gets only the keys and secrets infra/access.ts grants it; one it was not given
 * fails, naming its variable, when a handler first uses it. The development issuer is always
 * off. AWS_ENDPOINT_URL_DYNAMODB, _KMS and _SECRETS_MANAGER (the SDK's own variables) point
 * the clients at local servers in tests.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ConfigError, parseConfigText, type WardenConfig } from '../../core/config.js';
import { kmsNoteSigner, kmsTokenKey } from './kms-signers.js';
import { loadPolicyFile } from './policy-files.js';
import type { S3Recordings } from './evidence/s3-recordings.js';
import type { EvidenceSink } from './evidence-sink.js';
import { buildRuntimeWithoutKeys, type EvidenceStores, type Runtime } from './runtime.js';
import type { SlackSettings } from './slack-notifier.js';
import { TokenService } from './tokens.js';

/** The function's environment is missing or malformed; the message names the variable. */
export class LambdaEnvironmentError extends Error {
  override readonly name = 'LambdaEnvironmentError';
}

const set = z.string().min(1, 'is set but empty');
const arn = set.regex(/^arn:[a-z-]+:[a-z0-9-]+:/, 'is not an ARN');

const environmentSchema = z
  .object({
    AWS_REGION: set,
    LAMBDA_TASK_ROOT: set.optional(),
    WARDEN_TABLE_PREFIX: set,
    WARDEN_CONFIG_FILE: set.optional(),
    WARDEN_CONFIG_YAML: set.optional(),
    WARDEN_POLICY_FILE: set.optional(),
    WARDEN_TOKEN_KEY_ID: set.optional(),
    WARDEN_TOKEN_ISSUER: z.url('is not a URL').optional(),
    WARDEN_TOKEN_AUDIENCE: set.optional(),
    WARDEN_LOG_KEY_ID: set.optional(),
    WARDEN_DIGEST_KEY_SECRET_ARN: arn.optional(),
    WARDEN_SLACK_WEBHOOK_URL_SECRET_ARN: arn.optional(),
    WARDEN_SLACK_SIGNING_SECRET_ARN: arn.optional(),
    WARDEN_EVIDENCE_BUCKET: set.optional(),
    WARDEN_EVIDENCE_PREFIX: z.string().optional(),
    WARDEN_EVIDENCE_RETENTION_DAYS: z.coerce.number<string>().int('is not a whole number of days').min(1).optional(),
    WARDEN_IDP_ISSUER: z.url('is not a URL').optional(),
    WARDEN_IDP_AUDIENCE: set.optional(),
  })
  .superRefine((env, context) => {
    const needs = (present: keyof typeof env, missing: keyof typeof env) => {
      if (env[present] !== undefined && env[missing] === undefined) context.addIssue({ code: 'custom', path: [missing], message: `is not set, but ${present} is` });
    };
    needs('WARDEN_TOKEN_KEY_ID', 'WARDEN_TOKEN_ISSUER');
    needs('WARDEN_EVIDENCE_BUCKET', 'WARDEN_EVIDENCE_PREFIX');
    needs('WARDEN_EVIDENCE_BUCKET', 'WARDEN_EVIDENCE_RETENTION_DAYS');
    needs('WARDEN_IDP_ISSUER', 'WARDEN_IDP_AUDIENCE');
    needs('WARDEN_IDP_AUDIENCE', 'WARDEN_IDP_ISSUER');
    if (env.WARDEN_CONFIG_FILE !== undefined && env.WARDEN_CONFIG_YAML !== undefined) {
      context.addIssue({ code: 'custom', path: ['WARDEN_CONFIG_YAML'], message: 'is set, but so is WARDEN_CONFIG_FILE: set one of them' });
    }
  });

type LambdaEnvironment = z.infer<typeof environmentSchema>;

let building: Promise<Runtime> | undefined;

/** This container's Runtime, built by the first invocation; a failed build is tried again by the next. */
export function lambdaRuntime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  building ??= buildLambdaRuntime(env).catch((error: unknown) => {
    building = undefined;
    throw error;
  });
  return building;
}

export async function buildLambdaRuntime(processEnv: NodeJS.ProcessEnv): Promise<Runtime> {
  const env = readEnvironment(processEnv);
  const { config, policyFile } = await lambdaConfig(env);
  const kms = new KMSClient({ region: env.AWS_REGION });
  const secrets = new SecretsManagerClient({ region: env.AWS_REGION });
  const [policy, tokenKey, logSigner, digestKey, slack] = await Promise.all([
    loadPolicyFile(policyFile),
    env.WARDEN_TOKEN_KEY_ID === undefined ? undefined : kmsTokenKey(kms, env.WARDEN_TOKEN_KEY_ID),
    env.WARDEN_LOG_KEY_ID === undefined ? undefined : kmsNoteSigner(kms, env.WARDEN_LOG_KEY_ID, config.ledger.origin),
    env.WARDEN_DIGEST_KEY_SECRET_ARN === undefined ? undefined : readSecret(secrets, env.WARDEN_DIGEST_KEY_SECRET_ARN).then((value) => Buffer.from(value, 'utf8')),
    slackSettings(config, env, secrets),
  ]);
  const tokens = tokenKey && new TokenService(tokenKey, config.tokens.issuer, config.tokens.ttlSeconds, { deploymentAudience: env.WARDEN_TOKEN_AUDIENCE });
  const bucket = await evidenceBucket(env, config);
  return {
    ...withCheckpointSink(bucket?.checkpoints, buildRuntimeWithoutKeys({
      config,
      // Only the local evidence directory lives here: in Lambda, /tmp is the one writable place.
      stateDir: join(tmpdir(), 'warden'),
      // Proxy routes check IAM (WARDEN_PROXY_ROLE_ARN) in Lambda; a key nobody holds keeps the local check closed.
      proxyKey: randomBytes(32).toString('base64url'),
      policy,
      ...(bucket ? { recordingStore: bucket.recordings } : { recordingsReadable: false }),
      ...(slack ? { slack } : {}),
    })),
    get tokens() {
      return given(tokens, 'WARDEN_TOKEN_KEY_ID');
    },
    get digestKey() {
      return given(digestKey, 'WARDEN_DIGEST_KEY_SECRET_ARN');
    },
    get logSigner() {
      return given(logSigner, 'WARDEN_LOG_KEY_ID');
    },
  };
}

/**
 * The evidence bucket, when the stack gives one: checkpoints go there, and so do session
 * recordings, which the proxy puts and readers read there. Without it, checkpoints go to the
 * directory under /tmp and recordings stay with the proxy.
 */
async function evidenceBucket(env: LambdaEnvironment, config: WardenConfig): Promise<{ checkpoints: EvidenceSink; recordings: S3Recordings } | undefined> {
  const bucket = env.WARDEN_EVIDENCE_BUCKET;
  if (bucket === undefined) return undefined;
  const [{ S3EvidenceSink }, { createS3Client }, { S3Recordings }] = await Promise.all([import('./evidence/s3-sink.js'), import('./evidence/s3-target.js'), import('./evidence/s3-recordings.js')]);
  const client = createS3Client({ region: env.AWS_REGION, forcePathStyle: false });
  const location = { bucket, prefix: env.WARDEN_EVIDENCE_PREFIX ?? '' };
  const retentionDays = env.WARDEN_EVIDENCE_RETENTION_DAYS ?? config.evidence.export.retentionDays;
  return { checkpoints: new S3EvidenceSink(client, { location, retentionDays }), recordings: new S3Recordings(client, location, retentionDays) };
}

function withCheckpointSink<T extends { readonly evidence: EvidenceStores }>(sink: EvidenceSink | undefined, runtime: T): T {
  return sink ? { ...runtime, evidence: { ...runtime.evidence, checkpoints: sink } } : runtime;
}

function readEnvironment(env: NodeJS.ProcessEnv): LambdaEnvironment {
  const parsed = environmentSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? '(environment)');
    return `${variable} ${env[variable] === undefined && issue.code !== 'custom' ? 'is not set' : issue.message}`;
  });
  throw new LambdaEnvironmentError(`the control plane's Lambda environment is invalid: ${problems.join('; ')}`);
}

/** warden.yaml's text, how errors name it, and the directory its policy.file is relative to. */
interface ConfigSource {
  readonly text: string | undefined;
  readonly name: string;
  readonly directory: string;
}

/** A file the function's variables name, found in the bundle when relative. */
const inBundle = (env: LambdaEnvironment, file: string) => resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), file);

async function readConfigSource(env: LambdaEnvironment): Promise<ConfigSource> {
  if (env.WARDEN_CONFIG_FILE === undefined) return { text: env.WARDEN_CONFIG_YAML, name: 'WARDEN_CONFIG_YAML', directory: inBundle(env, '.') };
  const file = inBundle(env, env.WARDEN_CONFIG_FILE);
  try {
    return { text: await readFile(file, 'utf8'), name: `WARDEN_CONFIG_FILE ${file}`, directory: dirname(file) };
  } catch (error) {
    throw new LambdaEnvironmentError(`WARDEN_CONFIG_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
}

/**
 * The configuration (WARDEN_CONFIG_FILE or WARDEN_CONFIG_YAML), with what the deployment decides
 * (tables, token issuer, IdP, evidence bucket) taken from its own variables, and the policy file
 * (undefined: the shipped default set).
 */
async function lambdaConfig(env: LambdaEnvironment): Promise<{ config: WardenConfig; policyFile: string | undefined }> {
  const source = await readConfigSource(env);
  let config: WardenConfig;
  try {
    config = parseConfigText(source.text, source.name);
  } catch (error) {
    if (error instanceof ConfigError) throw new LambdaEnvironmentError(error.message, { cause: error });
    throw error;
  }
  // Every token carries the deployment audience: a connection of that name would be unreachable (tokens.ts).
  if (env.WARDEN_TOKEN_AUDIENCE !== undefined && Object.hasOwn(config.connections, env.WARDEN_TOKEN_AUDIENCE)) {
    throw new LambdaEnvironmentError(`WARDEN_TOKEN_AUDIENCE ${JSON.stringify(env.WARDEN_TOKEN_AUDIENCE)} is also the name of a connection in ${source.name}; rename one of them`);
  }
  const policy = config.policy.file && resolve(source.directory, config.policy.file);
  return { config: deploymentConfig(config, env), policyFile: env.WARDEN_POLICY_FILE === undefined ? policy : inBundle(env, env.WARDEN_POLICY_FILE) };
}

function deploymentConfig(config: WardenConfig, env: LambdaEnvironment): WardenConfig {
  const idp = env.WARDEN_IDP_ISSUER !== undefined && env.WARDEN_IDP_AUDIENCE !== undefined ? { issuer: env.WARDEN_IDP_ISSUER, audience: env.WARDEN_IDP_AUDIENCE } : undefined;
  const configured = config.identity.issuers.filter((issuer) => issuer.issuer !== idp?.issuer);
  const matching = config.identity.issuers.find((issuer) => issuer.issuer === idp?.issuer);
  const bucket = env.WARDEN_EVIDENCE_BUCKET;
  return {
    ...config,
    store: { ...config.store, region: env.AWS_REGION, tablePrefix: env.WARDEN_TABLE_PREFIX },
    tokens: { ...config.tokens, ...(env.WARDEN_TOKEN_ISSUER ? { issuer: env.WARDEN_TOKEN_ISSUER } : {}) },
    identity: { devIssuer: false, issuers: idp ? [{ groupsClaim: 'groups', ...matching, ...idp }, ...configured] : configured },
    evidence: {
      export: {
        ...config.evidence.export,
        ...(bucket ? { s3: { bucket, prefix: env.WARDEN_EVIDENCE_PREFIX ?? '', region: env.AWS_REGION, forcePathStyle: false }, retentionDays: env.WARDEN_EVIDENCE_RETENTION_DAYS ?? config.evidence.export.retentionDays } : {}),
      },
    },
  };
}

/** approvals.slack's users and prefix, with the secrets this function was given; one it was not given fails when read. */
async function slackSettings(config: WardenConfig, env: LambdaEnvironment, client: SecretsManagerClient): Promise<SlackSettings | undefined> {
  const slack = config.approvals.slack;
  if (!slack) return undefined;
  const read = (arn: string | undefined) => (arn === undefined ? undefined : readSecret(client, arn));
  const [webhookUrl, signingSecret] = await Promise.all([read(env.WARDEN_SLACK_WEBHOOK_URL_SECRET_ARN), read(env.WARDEN_SLACK_SIGNING_SECRET_ARN)]);
  return {
    get webhookUrl() {
      return given(webhookUrl, 'WARDEN_SLACK_WEBHOOK_URL_SECRET_ARN');
    },
    get signingSecret() {
      return given(signingSecret, 'WARDEN_SLACK_SIGNING_SECRET_ARN');
    },
    responseUrlPrefix: slack.responseUrlPrefix,
    users: slack.users,
  };
}

async function readSecret(client: SecretsManagerClient, arn: string): Promise<string> {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  if (!SecretString) throw new LambdaEnvironmentError(`the secret ${arn} has no string value; put one (see the README)`);
  return SecretString;
}

function given<T>(value: T | undefined, variable: string): T {
  if (value === undefined) throw new LambdaEnvironmentError(`${variable} is not set for this function: infra/access.ts does not grant it this key or secret`);
  return value;
}
