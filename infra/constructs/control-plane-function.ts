/**
 * One control-plane Lambda: an entry file bundled with esbuild, on nodejs22.x and arm64, with
 * its own role, its own encrypted log group, and exactly the access infra/access.ts names.
 *
 * X-Ray tracing is off: HTTP APIs do not propagate trace headers to Lambda, and the handlers
 * carry no tracer, so active tracing would record little beyond Lambda's own Duration metric,
 * while adding a data store outside the audit boundary. Powertools' structured logs carry the
 * request id instead.
 */
import { isAbsolute, join, posix, relative } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal, type IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { tableActions, type FunctionAccess } from '../access.js';
import { repositoryRoot } from '../repository.js';
import type { DeployedConfig, Settings } from '../settings.js';
import type { ControlPlaneSecrets } from './control-plane-secrets.js';
import type { DataKey } from './data-key.js';
import type { LedgerTables } from './ledger-tables.js';
import type { SigningKeys } from './signing-keys.js';

/** Where evidence objects go: Object Lock applies the retention; writers carry writePolicy. */
export interface EvidenceDestination {
  readonly bucket: IBucket;
  readonly prefix: string;
  readonly retentionDays: number;
  readonly writePolicy: IManagedPolicy;
  readonly recordingPolicies: { readonly put: IManagedPolicy; readonly read: IManagedPolicy };
}

export interface ControlPlaneResources {
  readonly settings: Settings;
  /** The configFile, shipped in every bundle; unset, the functions run on every default. */
  readonly config: DeployedConfig | undefined;
  /** The `iss` of Warden tokens, as the JWT authorizer expects it. */
  readonly tokenIssuer: string;
  /** The proxy fleet's task role: proxy routes accept only its sessions. */
  readonly proxyRoleArn: string;
  readonly dataKey: DataKey;
  readonly tables: LedgerTables;
  readonly signingKeys: SigningKeys;
  readonly secrets: ControlPlaneSecrets;
  readonly evidence: EvidenceDestination;
}

export interface ControlPlaneFunctionProps {
  /** Repository-relative file that exports `handler`. */
  readonly entry: string;
  readonly access: FunctionAccess;
  readonly resources: ControlPlaneResources;
  readonly timeout: Duration;
  readonly environment?: Readonly<Record<string, string>>;
}

/** Files of packages that read a .wasm beside their code at run time: copied next to the bundle, not bundled. */
const wasmPackageFiles = ['libpg-query', '@pgsql/types', '@cedar-policy/cedar-wasm/package.json', '@cedar-policy/cedar-wasm/nodejs'];

/**
 * Where a bundle holds the configFile and its policy.file: WARDEN_CONFIG_FILE and
 * WARDEN_POLICY_FILE name them, relative to the bundle (functions/lib/lambda-runtime.ts). In the
 * bundle, not the environment: Lambda caps a function's whole environment at 4 KB.
 */
export const BUNDLED_CONFIG_FILE = 'warden.yaml';
export const BUNDLED_POLICY_FILE = 'warden.cedar';
/** Where the console function's bundle holds the prebuilt web console (web/write-assets.ts). */
export const BUNDLED_CONSOLE_DIR = 'console';

/** A path for bash, single-quoted: configFile comes from the command line. */
const quoted = (path: string) => `'${path.replaceAll("'", "'\\''")}'`;

/** `file` as the bundling commands see it: under the input directory when in the repository (as in Docker), else as is. */
function bundlingSource(inputDir: string, file: string): string {
  const inRepository = relative(repositoryRoot, file);
  return inRepository.startsWith('..') || isAbsolute(inRepository) ? file : posix.join(inputDir, ...inRepository.split(/[\\/]/));
}

/**
 * How every function is bundled, with `config` copied beside the bundle. Exported for the test
 * that bundles a module with these options and loads the policy and the config from the bundle.
 */
export const bundling = (config: DeployedConfig | undefined, { console: withConsole = false }: { readonly console?: boolean } = {}): BundlingOptions => ({
  format: OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  // ESM output has no `require` for the CommonJS modules esbuild bundles.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  // Replaces the default ['@aws-sdk/*']: the SDK is bundled at the version package-lock.json pins.
  // esbuild: web/build.ts loads it only to build the console on the fly, never where WARDEN_CONSOLE_DIR is set.
  externalModules: ['libpg-query', '@cedar-policy/cedar-wasm', 'esbuild'],
  commandHooks: {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) => [
      ...wasmPackageFiles.map((file) => `mkdir -p "${outputDir}/node_modules/${posix.dirname(file)}" && cp -R "${inputDir}/node_modules/${file}" "${outputDir}/node_modules/${file}"`),
      // The Cedar schema and default policy set, read beside the bundle (functions/lib/policy-files.ts).
      `mkdir -p "${outputDir}/core" && cp -R "${inputDir}/core/policy" "${outputDir}/core/policy"`,
      ...(config ? [`cp ${quoted(bundlingSource(inputDir, config.file))} ${quoted(posix.join(outputDir, BUNDLED_CONFIG_FILE))}`] : []),
      ...(config?.policyFile ? [`cp ${quoted(bundlingSource(inputDir, config.policyFile))} ${quoted(posix.join(outputDir, BUNDLED_POLICY_FILE))}`] : []),
      // The web console, prebuilt: the function serves these files (WARDEN_CONSOLE_DIR) without esbuild.
      ...(withConsole ? [`cd ${quoted(inputDir)} && node --import tsx web/write-assets.ts ${quoted(posix.join(outputDir, BUNDLED_CONSOLE_DIR))}`] : []),
    ],
  },
  // The deployed asset's hash is the bundle's (AssetHashType.OUTPUT), which holds the copied files.
  // The digest also enters the options, which key CDK's per-process cache of bundles: a synth that
  // reads a changed config bundles again rather than reuse the bundle of the old one.
  ...(config ? { environment: { WARDEN_CONFIG_SHA256: config.digest } } : {}),
});

export class ControlPlaneFunction extends Construct {
  readonly function: NodejsFunction;
  private readonly role: Role;

  constructor(scope: Construct, id: string, props: ControlPlaneFunctionProps) {
    super(scope, id);
    const { resources } = props;
    const logGroup = resources.dataKey.logGroup(this, 'Logs');
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: `Warden ${props.entry}` });
    logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(repositoryRoot, props.entry),
      projectRoot: repositoryRoot,
      depsLockFilePath: join(repositoryRoot, 'package-lock.json'),
      description: `Warden ${props.entry}`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 1024,
      timeout: props.timeout,
      role: this.role,
      logGroup,
      tracing: Tracing.DISABLED,
      environment: { ...this.environment(props), ...props.environment },
      bundling: bundling(resources.config, { console: props.access.servesConsole ?? false }),
    });
    this.grant(props.access, resources);
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x on purpose (DESIGN.md): the code and its pinned dependencies (middy 6) are tested on Node 20 and 22; a newer runtime comes with those tests.',
    });
  }

  private environment({ access, resources }: ControlPlaneFunctionProps): Record<string, string> {
    const { settings, config, signingKeys, secrets, evidence, proxyRoleArn } = resources;
    return {
      POWERTOOLS_SERVICE_NAME: 'warden-control-plane',
      POWERTOOLS_METRICS_NAMESPACE: 'Warden',
      LOG_LEVEL: settings.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
      WARDEN_TABLE_PREFIX: settings.tablePrefix,
      ...(config ? { WARDEN_CONFIG_FILE: BUNDLED_CONFIG_FILE } : {}),
      ...(config?.policyFile ? { WARDEN_POLICY_FILE: BUNDLED_POLICY_FILE } : {}),
      ...(access.servesConsole ? { WARDEN_CONSOLE_DIR: BUNDLED_CONSOLE_DIR } : {}),
      ...(access.verifiesTokens || access.signs === 'tokens'
        ? { WARDEN_TOKEN_KEY_ID: signingKeys.tokens.keyId, WARDEN_TOKEN_ISSUER: resources.tokenIssuer, WARDEN_TOKEN_AUDIENCE: settings.tokenAudience }
        : {}),
      ...(access.servesProxy ? { WARDEN_PROXY_ROLE_ARN: proxyRoleArn } : {}),
      ...(access.signs === 'log' || access.verifiesLog ? { WARDEN_LOG_KEY_ID: signingKeys.log.keyId } : {}),
      ...(access.digestKey ? { WARDEN_DIGEST_KEY_SECRET_ARN: secrets.digestKey.secretArn } : {}),
      ...(access.slack?.includes('webhookUrl') ? { WARDEN_SLACK_WEBHOOK_URL_SECRET_ARN: secrets.slack.webhookUrl.secretArn } : {}),
      ...(access.slack?.includes('signingSecret') ? { WARDEN_SLACK_SIGNING_SECRET_ARN: secrets.slack.signingSecret.secretArn } : {}),
      ...(access.writesEvidence || access.recordings
        ? { WARDEN_EVIDENCE_BUCKET: evidence.bucket.bucketName, WARDEN_EVIDENCE_PREFIX: evidence.prefix, WARDEN_EVIDENCE_RETENTION_DAYS: String(evidence.retentionDays) }
        : {}),
      ...(access.exchangesIdentity && settings.idpIssuer ? { WARDEN_IDP_ISSUER: settings.idpIssuer } : {}),
      ...(access.exchangesIdentity && settings.idpAudience ? { WARDEN_IDP_AUDIENCE: settings.idpAudience } : {}),
    };
  }

  private grant(access: FunctionAccess, { tables, dataKey, signingKeys, secrets, evidence }: ControlPlaneResources): void {
    for (const [definition, levels] of access.tables) {
      const actions = [...new Set(levels.flatMap((level) => tableActions[level]))];
      this.role.addToPrincipalPolicy(new PolicyStatement({ actions, resources: [tables.table(definition).tableArn] }));
    }
    if (access.tables.length > 0) {
      const writes = access.tables.some(([, levels]) => levels.some((level) => level !== 'read'));
      dataKey.grant(this.role, 'kms:Decrypt', 'kms:DescribeKey', ...(writes ? ['kms:Encrypt', 'kms:GenerateDataKey'] : []));
    }
    if (access.signs === 'tokens') signingKeys.tokens.grant(this.role, 'kms:Sign', 'kms:GetPublicKey');
    else if (access.verifiesTokens) signingKeys.tokens.grant(this.role, 'kms:GetPublicKey');
    if (access.signs === 'log') signingKeys.log.grant(this.role, 'kms:Sign', 'kms:GetPublicKey');
    else if (access.verifiesLog) signingKeys.log.grant(this.role, 'kms:GetPublicKey');
    if (access.digestKey) secrets.digestKey.grantRead(this.role);
    for (const name of access.slack ?? []) secrets.slack[name].grantRead(this.role);
    if (access.writesEvidence) this.role.addManagedPolicy(evidence.writePolicy);
    if (access.recordings) this.role.addManagedPolicy(evidence.recordingPolicies[access.recordings]);
  }
}
