/**
 * The CDK app, asserted on its synthesized templates: the security properties an auditor would
 * check, read from the same tables the code reads (functions/routes.ts, functions/lib/tables.ts,
 * infra/schedules.ts). Each app is synthesized once, offline, without esbuild bundling
 * (`aws:cdk:bundling-stacks` = []): bundling would run esbuild once per function.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { physicalTableName, tables } from '../../functions/lib/tables.js';
import { routes } from '../../functions/routes.js';
import { buildApp } from '../../infra/app.js';
import { anonymous, handlerAuthenticated } from '../../infra/constructs/control-plane-api.js';
import { BUNDLED_CONFIG_FILE, BUNDLED_POLICY_FILE } from '../../infra/constructs/control-plane-function.js';
import { proxyPorts } from '../../infra/proxy-ports.js';
import { IDENTITY_PLACEHOLDER } from '../../infra/stacks/proxy-fleet-stack.js';
import { scheduledJobs } from '../../infra/schedules.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cdkContext = (JSON.parse(readFileSync(join(repo, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; Metadata?: unknown }>;

interface Synthesized {
  readonly app: App;
  readonly outdir: string;
  readonly evidence: Template;
  readonly controlPlane: Template;
  readonly proxyFleet: Template;
}

const outdirs: string[] = [];

/** The variant's configFile: an absolute path, resolved against the repository root as any path is. */
const CONFIG_YAML = 'connections:\n  orders:\n    kind: postgres\n    host: orders.internal\n    database: orders\n    user: warden\n';
function writeConfigFile(text = CONFIG_YAML, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-'));
  outdirs.push(dir);
  const file = join(dir, 'warden.yaml');
  writeFileSync(file, text);
  for (const [name, contents] of Object.entries(files)) writeFileSync(join(dir, name), contents);
  return file;
}

/** cdk-nag runs as a validation plugin: a finding nobody fixed or acknowledged throws here. */
function synthesize(context: Record<string, unknown> = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'warden-cdk-'));
  outdirs.push(outdir);
  const app = buildApp(new App({ outdir, context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], ...context } }));
  app.synth();
  const template = (id: string) => Template.fromStack(app.node.findChild(id) as Stack);
  return { app, outdir, evidence: template('WardenEvidence'), controlPlane: template('WardenControlPlane'), proxyFleet: template('WardenProxyFleet') };
}

const resourcesOf = (template: Template): Resources => template.toJSON().Resources as Resources;
const ofType = (template: Template, type: string) => Object.entries(resourcesOf(template)).filter(([, resource]) => resource.Type === type);
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const statementsOf = (policy: { Properties?: Record<string, any> }): { Action: string | string[]; Resource: unknown }[] => policy.Properties!.PolicyDocument.Statement;
const mentions = (value: unknown, logicalId: string) => JSON.stringify(value).includes(`"${logicalId}"`);

/** Function logical id → its entry, from the description the construct sets. */
function functionsByRole(template: Template): Map<string, string> {
  return new Map(ofType(template, 'AWS::Lambda::Function').map(([, fn]) => [fn.Properties!.Role['Fn::GetAtt'][0] as string, (fn.Properties!.Description as string).replace(/^Warden /, '')]));
}

/** The entries whose role has a policy statement allowing `action` on a resource that mentions `logicalId`. */
function entriesAllowed(template: Template, action: string, logicalId: string): string[] {
  const roles = functionsByRole(template);
  const allowed = new Set<string>();
  for (const [, policy] of ofType(template, 'AWS::IAM::Policy')) {
    const grants = statementsOf(policy).some((statement) => asArray(statement.Action).includes(action) && mentions(statement.Resource, logicalId));
    if (!grants) continue;
    for (const role of policy.Properties!.Roles as { Ref: string }[]) if (roles.has(role.Ref)) allowed.add(roles.get(role.Ref)!);
  }
  return [...allowed].sort();
}

function logicalIdOf(template: Template, type: string, properties: Record<string, unknown>): string {
  const found = Object.keys(template.findResources(type, { Properties: properties }));
  assert.equal(found.length, 1, `one ${type} with ${JSON.stringify(properties)}`);
  return found[0]!;
}

function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  const found = root.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id: id.replace(/^annotation::/i, ''), reason }))),
    );
  return found;
}

const proxyRouteArn = (route: { method: string; path: string }) => `$default/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`;

describe('CDK app', () => {
  let synthesized: Synthesized;
  let variant: Synthesized;

  before(() => {
    synthesized = synthesize();
    // As `cdk deploy -c …` passes them: every value a string.
    variant = synthesize({
      evidenceRetentionDays: '30',
      nlbScheme: 'internet-facing',
      clientCidrs: '["0.0.0.0/0"]',
      tokenIssuer: 'https://warden.example.com',
      idpIssuer: 'https://login.example.com',
      idpAudience: 'warden-gateway',
      targetSecrets: '{"ORDERS_DB_PASSWORD":"warden/targets/orders","OPS_SSH_KEY":"warden/targets/ops-ssh"}',
      configFile: writeConfigFile(),
    });
  });

  after(() => {
    for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
  });

  describe('synthesis', () => {
    it('synthesizes three environment-agnostic stacks offline, with no cdk-nag AwsSolutions finding left', () => {
      for (const id of ['WardenEvidence', 'WardenControlPlane', 'WardenProxyFleet']) {
        const stack = synthesized.app.node.findChild(id) as Stack;
        assert.equal(stack.environment, 'aws://unknown-account/unknown-region', id);
      }
    });

    it('acknowledges only known rules, each with its own reason', () => {
      const known = [
        /^AwsSolutions-APIG4$/, // public routes without the JWT authorizer (handlerAuthenticated, anonymous)
        /^AwsSolutions-L1$/, // nodejs22.x
        /^AwsSolutions-SMG4$/, // secrets rotated where they are issued
        /^AwsSolutions-S1$/, // the access-log bucket itself
        /^AwsSolutions-ELB2$/, // TCP listeners have no NLB access logs
        /^AwsSolutions-ECS2$/, // non-secret container environment
        /^AwsSolutions-EC23$/, // only when clientCidrs opens the NLB to the internet
        /^AwsSolutions-IAM5\[Resource::\*\]$/, // ecr:GetAuthorizationToken
        /^AwsSolutions-IAM5\[Resource::<Evidence\w+\.Arn>\/warden\/evidence\/\*\]$/,
        /^AwsSolutions-IAM5\[Resource::<Evidence\w+\.Arn>\/warden\/evidence\/recordings\/\*\]$/, // recordings named per session and command
        /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<Api\w+>\/\$default\/POST\/v1\/sessions\/\*\/end\]$/, // a proxy route's path parameter
      ];
      // CDK acknowledges some rules of its own CloudFormation validation; these are cdk-nag's.
      const found = [...acknowledgments(synthesized.app), ...acknowledgments(variant.app)].filter(({ id }) => id.startsWith('AwsSolutions-'));
      assert.ok(found.length > 0, 'some rule is acknowledged');
      for (const { path, id, reason } of found) {
        assert.ok(
          known.some((pattern) => pattern.test(id)),
          `${path} acknowledges ${id}: fix the finding, or add the rule here on purpose`,
        );
        assert.ok(reason.length >= 80, `${path} ${id}: give the specific reason (${reason})`);
      }
      assert.ok(found.some(({ id }) => id === 'AwsSolutions-EC23'), 'AwsSolutions-EC23 is acknowledged');
      assert.ok(!acknowledgments(synthesized.app).some(({ id }) => id === 'AwsSolutions-EC23'), 'the default NLB is not open to the internet');
    });

    it('stages the proxy image context without node_modules, .git, test/ or state directories', () => {
      const manifest = JSON.parse(readFileSync(join(synthesized.outdir, 'WardenProxyFleet.assets.json'), 'utf8')) as { dockerImages: Record<string, { source: { directory: string; dockerFile: string } }> };
      const images = Object.values(manifest.dockerImages);
      assert.equal(images.length, 1);
      const { directory, dockerFile } = images[0]!.source;
      const staged = join(synthesized.outdir, directory);
      assert.equal(dockerFile, 'proxy-fleet/Dockerfile');
      for (const present of ['proxy-fleet/Dockerfile', 'core', 'package.json', 'package-lock.json']) assert.ok(existsSync(join(staged, present)), present);
      for (const absent of ['node_modules', '.git', 'test', '.warden', 'cdk.out', 'functions', 'cli', 'infra', 'README.md']) assert.ok(!existsSync(join(staged, absent)), absent);
    });

    it('refuses an invalid context with the parameter named', () => {
      assert.throws(() => buildApp(new App({ context: { ...cdkContext, nlbScheme: 'public' } })), /nlbScheme/);
      assert.throws(() => buildApp(new App({ context: { ...cdkContext, nlbScheme: 'internet-facing' } })), /clientCidrs: an internet-facing NLB needs clientCidrs/);
      assert.throws(() => buildApp(new App({ context: { ...cdkContext, targetSecrets: '{"lower-case":"x"}' } })), /targetSecrets/);
    });

    it('refuses a configFile that is not a valid config, or whose policy.file is missing, naming the file', () => {
      const refused = (configFile: string, message: RegExp) => assert.throws(() => buildApp(new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], configFile } })), message);
      const missing = join(tmpdir(), 'warden-no-such-dir', 'warden.yaml');
      refused(missing, new RegExp(`configFile: cannot read ${missing}`));
      const invalid = writeConfigFile('connections:\n  orders:\n    kind: postgres\n');
      refused(invalid, new RegExp(`configFile ${invalid} is not a valid Warden configuration:\\n  connections\\.orders`));
      const notYaml = writeConfigFile('connections: [');
      refused(notYaml, new RegExp(`configFile ${notYaml} is not valid YAML`));
      const withoutPolicy = writeConfigFile('policy:\n  file: ./custom.cedar\n');
      refused(withoutPolicy, new RegExp(`configFile ${withoutPolicy}: policy.file ${join(withoutPolicy, '..', 'custom.cedar')} is missing or not a file`));
    });
  });

  describe('data at rest', () => {
    it('declares every store table with the key schema the local store creates, with PITR, deletion protection and the CMK', () => {
      const { controlPlane } = synthesized;
      controlPlane.resourceCountIs('AWS::DynamoDB::Table', tables.length);
      for (const table of tables) {
        const keys = [table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])];
        controlPlane.hasResourceProperties('AWS::DynamoDB::Table', {
          TableName: physicalTableName(cdkContext.tablePrefix as string, table),
          KeySchema: keys.map((key, i) => ({ AttributeName: key.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
          BillingMode: 'PAY_PER_REQUEST',
          DeletionProtectionEnabled: true,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
        });
      }
    });

    it('encrypts every table, bucket, secret and log group it creates', () => {
      for (const { controlPlane, evidence, proxyFleet } of [synthesized, variant]) {
        for (const template of [controlPlane, evidence, proxyFleet]) {
          for (const [id, table] of ofType(template, 'AWS::DynamoDB::Table')) assert.equal(table.Properties!.SSESpecification?.SSEEnabled, true, id);
          for (const [id, bucket] of ofType(template, 'AWS::S3::Bucket')) assert.ok(bucket.Properties!.BucketEncryption?.ServerSideEncryptionConfiguration?.length, id);
          for (const [id, secret] of ofType(template, 'AWS::SecretsManager::Secret')) assert.ok(secret.Properties!.KmsKeyId, id);
          for (const [id, group] of ofType(template, 'AWS::Logs::LogGroup')) assert.ok(group.Properties!.KmsKeyId, id);
        }
      }
      // The secrets and log groups really exist: 3 secrets in the control plane; in the fleet the 2 identity secrets, and 2 target secrets in the variant.
      synthesized.controlPlane.resourceCountIs('AWS::SecretsManager::Secret', 3);
      synthesized.proxyFleet.resourceCountIs('AWS::SecretsManager::Secret', 2);
      variant.proxyFleet.resourceCountIs('AWS::SecretsManager::Secret', 4);
      assert.ok(ofType(synthesized.controlPlane, 'AWS::Logs::LogGroup').length > routes.length / 2);
    });

    it('keeps evidence under Object Lock in COMPLIANCE mode for the configured retention', () => {
      for (const [{ evidence }, days] of [
        [synthesized, cdkContext.evidenceRetentionDays],
        [variant, 30],
      ] as const) {
        evidence.hasResourceProperties('AWS::S3::Bucket', {
          ObjectLockEnabled: true,
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: days } } },
          VersioningConfiguration: { Status: 'Enabled' },
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'evidence/' },
        });
      }
      assert.equal(cdkContext.evidenceRetentionDays, 365);
    });

    it('refuses plain HTTP on both buckets and keeps their access public-blocked', () => {
      const { evidence } = synthesized;
      const buckets = ofType(evidence, 'AWS::S3::Bucket');
      assert.equal(buckets.length, 2);
      for (const [id, bucket] of buckets) {
        assert.deepEqual(bucket.Properties!.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true }, id);
        evidence.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: id },
          PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
        });
      }
    });
  });

  describe('IAM', () => {
    it('grants no wildcard action or resource on the ledger tables, and no delete at all', () => {
      for (const { controlPlane, evidence, proxyFleet } of [synthesized, variant]) {
        const tableIds = ofType(controlPlane, 'AWS::DynamoDB::Table').map(([id]) => id);
        for (const template of [controlPlane, evidence, proxyFleet]) {
          const policies = [...ofType(template, 'AWS::IAM::Policy'), ...ofType(template, 'AWS::IAM::ManagedPolicy')];
          for (const [id, policy] of policies) {
            for (const statement of statementsOf(policy)) {
              const actions = asArray(statement.Action);
              assert.ok(!actions.some((action) => /^dynamodb:(\*|Delete|.*\*)/.test(action)), `${id}: ${actions.join(', ')}`);
              assert.ok(!actions.some((action) => /^s3:(\*|Delete|PutBucket|PutObjectLegalHold|BypassGovernance)/.test(action)), `${id}: ${actions.join(', ')}`);
              const onTables = tableIds.some((tableId) => mentions(statement.Resource, tableId));
              if (onTables || actions.some((action) => action.startsWith('dynamodb:'))) {
                assert.ok(!actions.some((action) => action.includes('*')), `${id}: wildcard action on a table`);
                for (const resource of asArray(statement.Resource)) {
                  assert.ok(!JSON.stringify(resource).includes('*'), `${id}: wildcard resource ${JSON.stringify(resource)}`);
                  assert.ok(tableIds.some((tableId) => mentions(resource, tableId)), `${id}: DynamoDB on something other than the tables`);
                }
              }
            }
          }
        }
      }
    });

    it('lets the proxy task role invoke exactly the proxy routes and nothing else', () => {
      for (const { controlPlane, proxyFleet } of [synthesized, variant]) {
        // The control plane declares the role: its proxy routes accept only sessions of it.
        const roleId = logicalIdOf(controlPlane, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('proxy fleet') });
        const taskDefinition = ofType(proxyFleet, 'AWS::ECS::TaskDefinition')[0]![1];
        assert.match(taskDefinition.Properties!.TaskRoleArn['Fn::ImportValue'], new RegExp(`GetAtt${roleId}Arn`));
        const role = resourcesOf(controlPlane)[roleId]!.Properties!;
        assert.equal(role.ManagedPolicyArns, undefined);
        assert.equal(role.Policies, undefined);
        assert.deepEqual(role.AssumeRolePolicyDocument.Statement.map((statement: { Principal: unknown }) => statement.Principal), [{ Service: 'ecs-tasks.amazonaws.com' }]);

        const policies = ofType(controlPlane, 'AWS::IAM::Policy').filter(([, policy]) => mentions(policy.Properties!.Roles, roleId));
        assert.equal(policies.length, 1);
        const statements = statementsOf(policies[0]![1]);
        assert.ok(statements.every((statement) => asArray(statement.Action).join() === 'execute-api:Invoke'), 'the task role may only invoke');
        const apiId = ofType(controlPlane, 'AWS::ApiGatewayV2::Api')[0]![0];
        const invoked = statements.map((statement) => {
          const parts = (statement.Resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
          assert.deepEqual(parts.slice(0, 8), ['arn:', { Ref: 'AWS::Partition' }, ':execute-api:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':', { Ref: apiId }]);
          return parts[8];
        });
        const proxyRoutes = routes.filter((route) => route.audience === 'proxy');
        assert.deepEqual(invoked.sort(), proxyRoutes.map((route) => `/${proxyRouteArn(route)}`).sort());
        // Nothing in the proxy fleet's stack grants anything on DynamoDB, S3 or KMS signing.
        for (const [id, policy] of ofType(proxyFleet, 'AWS::IAM::Policy')) {
          const actions = statementsOf(policy).flatMap((statement) => asArray(statement.Action));
          assert.ok(!actions.some((action) => /^(dynamodb|s3|execute-api):|^kms:Sign/.test(action)), `${id}: ${actions.join(', ')}`);
        }
      }
    });

    it('tells the proxy routes which role the proxy fleet has, and no other function', () => {
      const { controlPlane } = synthesized;
      const roleId = logicalIdOf(controlPlane, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('proxy fleet') });
      const proxyEntries = new Set(routes.filter((route) => route.audience === 'proxy').map((route) => `functions/${route.entry}`));
      for (const [id, fn] of ofType(controlPlane, 'AWS::Lambda::Function')) {
        const entry = (fn.Properties!.Description as string).replace(/^Warden /, '');
        const role = fn.Properties!.Environment.Variables.WARDEN_PROXY_ROLE_ARN;
        assert.deepEqual(role, proxyEntries.has(entry) ? { 'Fn::GetAtt': [roleId, 'Arn'] } : undefined, id);
      }
    });

    it('gives the execution role only the image, its log group and the target secrets, injected at task start', () => {
      const { proxyFleet } = variant;
      const taskDefinition = ofType(proxyFleet, 'AWS::ECS::TaskDefinition')[0]![1];
      const executionRoleId = taskDefinition.Properties!.ExecutionRoleArn['Fn::GetAtt'][0] as string;
      const policies = ofType(proxyFleet, 'AWS::IAM::Policy').filter(([, policy]) => mentions(policy.Properties!.Roles, executionRoleId));
      const actions = policies.flatMap(([, policy]) => statementsOf(policy).flatMap((statement) => asArray(statement.Action))).sort();
      assert.deepEqual(
        [...new Set(actions)],
        ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetAuthorizationToken', 'ecr:GetDownloadUrlForLayer', 'logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      );
      // The secrets' key lets it decrypt through Secrets Manager only.
      proxyFleet.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: 'kms:Decrypt', Principal: { AWS: { 'Fn::GetAtt': [executionRoleId, 'Arn'] } }, Condition: { StringEquals: { 'kms:ViaService': Match.anyValue() } } }),
          ]),
        },
      });
      const container = taskDefinition.Properties!.ContainerDefinitions[0];
      assert.deepEqual(container.Secrets.map((secret: { Name: string }) => secret.Name).sort(), ['OPS_SSH_KEY', 'ORDERS_DB_PASSWORD', 'WARDEN_SSH_HOST_KEY', 'WARDEN_TLS_CERT', 'WARDEN_TLS_KEY']);
      assert.ok(!JSON.stringify(container.Environment).match(/PASSWORD|KEY|CERT/), 'no secret in the plain environment');
      const environment = Object.fromEntries(container.Environment.map(({ Name, Value }: { Name: string; Value: unknown }) => [Name, Value]));
      assert.equal(environment.WARDEN_PROXY_AUTH, 'iam', 'the proxy signs its calls with the task role');
      assert.equal(environment.WARDEN_STATE_DIR, '/tmp/warden');
      assert.equal(environment.WARDEN_RECORDINGS, 'upload', 'recordings leave the task for the evidence bucket');
      assert.ok(Number(environment.WARDEN_DRAIN_SECONDS) < container.StopTimeout, 'sessions drain before ECS stops the task');
      assert.equal(container.User, 'node');
      assert.deepEqual(container.LinuxParameters.Capabilities, { Drop: ['ALL'] });
    });

    it('gives every task the same SSH host key and TLS certificate, from two secrets under the fleet key that fail the task until put', () => {
      for (const { proxyFleet } of [synthesized, variant]) {
        const taskDefinition = ofType(proxyFleet, 'AWS::ECS::TaskDefinition')[0]![1];
        const container = taskDefinition.Properties!.ContainerDefinitions[0];
        const secrets: Record<string, unknown> = Object.fromEntries(container.Secrets.map(({ Name, ValueFrom }: { Name: string; ValueFrom: unknown }) => [Name, ValueFrom]));
        const fromSecret = (variable: string, logicalId: string, field = '') => mentions(secrets[variable], logicalId) && JSON.stringify(secrets[variable]).includes(field);
        const names = container.Environment.map(({ Name }: { Name: string }) => Name);
        for (const variable of ['WARDEN_SSH_HOST_KEY', 'WARDEN_TLS_CERT', 'WARDEN_TLS_KEY']) {
          assert.ok(secrets[variable], `${variable} is injected from Secrets Manager`);
          assert.ok(!names.includes(variable), `${variable} is not a plain environment variable`);
        }
        const hostKeyId = logicalIdOf(proxyFleet, 'AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp('WARDEN_SSH_HOST_KEY') });
        const tlsId = logicalIdOf(proxyFleet, 'AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp('WARDEN_TLS_CERT') });
        assert.ok(fromSecret('WARDEN_SSH_HOST_KEY', hostKeyId), 'WARDEN_SSH_HOST_KEY comes from the host key secret');
        // ECS's JSON-key syntax: <secret ARN>:<key>::
        assert.ok(fromSecret('WARDEN_TLS_CERT', tlsId, ':cert::'), 'WARDEN_TLS_CERT is the cert field of the TLS secret');
        assert.ok(fromSecret('WARDEN_TLS_KEY', tlsId, ':key::'), 'WARDEN_TLS_KEY is the key field of the TLS secret');
        const dataKeyId = ofType(proxyFleet, 'AWS::KMS::Key').map(([id]) => id);
        for (const id of [hostKeyId, tlsId]) {
          const secret = resourcesOf(proxyFleet)[id]!;
          assert.ok(dataKeyId.some((key) => mentions(secret.Properties!.KmsKeyId, key)), `${id} is encrypted with the fleet's key`);
          assert.equal((secret as { DeletionPolicy?: string }).DeletionPolicy, 'Retain', id);
        }
        // Until the operator puts them, the values parse as no key, so a task stops naming the variable.
        const generated = (id: string) => resourcesOf(proxyFleet)[id]!.Properties!.GenerateSecretString;
        assert.ok(generated(hostKeyId), 'the host key secret is generated');
        assert.deepEqual(JSON.parse(generated(tlsId).SecretStringTemplate), { cert: IDENTITY_PLACEHOLDER });
        assert.equal(generated(tlsId).GenerateStringKey, 'key');
        const outputs = proxyFleet.toJSON().Outputs as Record<string, { Value: unknown }>;
        assert.ok(mentions(outputs.SshHostKeySecret?.Value, hostKeyId), 'the SshHostKeySecret output names the secret');
        assert.ok(mentions(outputs.TlsCertificateSecret?.Value, tlsId), 'the TlsCertificateSecret output names the secret');
      }
    });

    it('lets only the functions that need them read the Slack secrets and the digest key', () => {
      const { controlPlane } = synthesized;
      const secret = (description: string) => logicalIdOf(controlPlane, 'AWS::SecretsManager::Secret', { Description: Match.stringLikeRegexp(description) });
      assert.deepEqual(entriesAllowed(controlPlane, 'secretsmanager:GetSecretValue', secret('signing secret')), ['functions/slack-interactions.ts']);
      assert.deepEqual(entriesAllowed(controlPlane, 'secretsmanager:GetSecretValue', secret('webhook URL')), ['functions/authorize.ts', 'functions/grants-request.ts']);
      assert.deepEqual(entriesAllowed(controlPlane, 'secretsmanager:GetSecretValue', secret('HMAC key')), ['functions/authorize.ts', 'functions/results.ts', 'functions/sessions-end.ts', 'functions/sessions-start.ts', 'infra/handlers/end-orphaned-sessions.ts']);
    });

    it('signs tokens with an RSA key only in /v1/token, and checkpoints with an Ed25519 key only in the log jobs', () => {
      const { controlPlane } = synthesized;
      const tokenKey = logicalIdOf(controlPlane, 'AWS::KMS::Key', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
      const logKey = logicalIdOf(controlPlane, 'AWS::KMS::Key', { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' });
      assert.deepEqual(entriesAllowed(controlPlane, 'kms:Sign', tokenKey), ['functions/token.ts']);
      assert.deepEqual(entriesAllowed(controlPlane, 'kms:Sign', logKey), ['functions/export-scheduled.ts', 'infra/handlers/checkpoint.ts']);
      // The ledger status checks stored checkpoints against the log key's public half, and signs nothing.
      assert.deepEqual(entriesAllowed(controlPlane, 'kms:GetPublicKey', logKey), ['functions/export-scheduled.ts', 'functions/ledger-status.ts', 'infra/handlers/checkpoint.ts']);
      const routeEntries = [...new Set(routes.map((route) => `functions/${route.entry}`))].sort();
      assert.deepEqual(entriesAllowed(controlPlane, 'kms:GetPublicKey', tokenKey), routeEntries);
      controlPlane.hasResourceProperties('AWS::KMS::Key', { KeySpec: Match.absent(), EnableKeyRotation: true });
    });

    for (const entry of ['functions/well-known.ts', 'functions/console.ts']) it(`lets ${entry} read only the token key's public half, and write its logs`, () => {
      const { controlPlane } = synthesized;
      const tokenKey = logicalIdOf(controlPlane, 'AWS::KMS::Key', { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
      const roleId = [...functionsByRole(controlPlane)].find(([, fnEntry]) => fnEntry === entry)?.[0];
      assert.ok(roleId, `${entry} has a role`);
      assert.equal(resourcesOf(controlPlane)[roleId]!.Properties!.ManagedPolicyArns, undefined, 'no managed policy');
      const statements = ofType(controlPlane, 'AWS::IAM::Policy')
        .filter(([, policy]) => mentions(policy.Properties!.Roles, roleId))
        .flatMap(([, policy]) => statementsOf(policy));
      const granted = statements.flatMap((statement) => asArray(statement.Action).map((action) => (action.startsWith('kms:') ? `${action} ${mentions(statement.Resource, tokenKey) ? 'token key' : JSON.stringify(statement.Resource)}` : action)));
      assert.deepEqual(granted.sort(), ['kms:GetPublicKey token key', 'logs:CreateLogStream', 'logs:PutLogEvents']);
      const environment = Object.keys(ofType(controlPlane, 'AWS::Lambda::Function').find(([, fn]) => fn.Properties!.Role['Fn::GetAtt'][0] === roleId)![1].Properties!.Environment.Variables);
      assert.ok(!environment.some((name) => /SECRET_ARN|LOG_KEY|EVIDENCE|PROXY_ROLE/.test(name)), `no other key, secret or bucket is named: ${environment.join(', ')}`);
    });

    it('lets only the checkpoint and export functions write evidence: PutObject, PutObjectRetention and GetObject under the prefix, never a delete', () => {
      const { evidence, controlPlane } = synthesized;
      const policies = ofType(evidence, 'AWS::IAM::ManagedPolicy');
      assert.equal(policies.length, 3, 'write, recording put, recording read');
      const policyWith = (actions: string[]) => {
        const found = policies.find(([, policy]) => JSON.stringify(asArray(statementsOf(policy)[0]!.Action).sort()) === JSON.stringify(actions));
        assert.ok(found, `a policy of exactly ${actions.join(', ')}`);
        return found;
      };
      const bucketId = logicalIdOf(evidence, 'AWS::S3::Bucket', { ObjectLockEnabled: true });
      const objectsUnder = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, prefix]] });
      const [writeId, write] = policyWith(['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention']);
      assert.deepEqual(statementsOf(write), [{ Action: ['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention'], Effect: 'Allow', Resource: objectsUnder('/warden/evidence/*') }]);
      // The recordings folder: the upload route signs the proxy's PUT there (and needs the PUT itself), the console's recording route reads it.
      const [putId, put] = policyWith(['s3:PutObject', 's3:PutObjectRetention']);
      const [readId, read] = policyWith(['s3:GetObject']);
      for (const policy of [put, read]) assert.deepEqual(statementsOf(policy)[0]!.Resource, objectsUnder('/warden/evidence/recordings/*'));
      const roles = functionsByRole(controlPlane);
      const holders = (policyId: string) =>
        Object.entries(resourcesOf(controlPlane))
          .filter(([, resource]) => resource.Type === 'AWS::IAM::Role' && JSON.stringify(resource.Properties!.ManagedPolicyArns ?? []).includes(`Ref${policyId}`))
          .map(([id]) => roles.get(id))
          .sort();
      assert.deepEqual(holders(writeId), ['functions/export-scheduled.ts', 'infra/handlers/checkpoint.ts']);
      assert.deepEqual(holders(putId), ['functions/recordings-upload.ts']);
      assert.deepEqual(holders(readId), ['functions/sessions-recording.ts']);
      for (const [id, policy] of ofType(controlPlane, 'AWS::IAM::Policy')) {
        assert.ok(!statementsOf(policy).some((statement) => asArray(statement.Action).some((action) => action.startsWith('s3:'))), `${id} grants no S3 action of its own`);
      }
    });
  });

  describe('control plane', () => {
    it('makes one function per distinct handler entry of functions/routes.ts and per scheduled job', () => {
      const { controlPlane } = synthesized;
      const expected = [...new Set(routes.map((route) => `functions/${route.entry}`)), ...scheduledJobs(60).map((job) => job.entry)].sort();
      const described = ofType(controlPlane, 'AWS::Lambda::Function').map(([, fn]) => (fn.Properties!.Description as string).replace(/^Warden /, ''));
      assert.deepEqual(described.sort(), expected);
      assert.ok(expected.includes('functions/export-scheduled.ts'), 'the export job has a function');
    });

    it('runs every Lambda on nodejs22.x and arm64 with the Powertools settings, without X-Ray', () => {
      for (const [id, fn] of ofType(synthesized.controlPlane, 'AWS::Lambda::Function')) {
        const { Runtime, Architectures, Environment, TracingConfig, LoggingConfig } = fn.Properties!;
        assert.equal(Runtime, 'nodejs22.x', id);
        assert.deepEqual(Architectures, ['arm64'], id);
        assert.equal(TracingConfig, undefined, id);
        assert.ok(LoggingConfig?.LogGroup, `${id} logs to its own encrypted log group`);
        assert.deepEqual(
          { service: Environment.Variables.POWERTOOLS_SERVICE_NAME, namespace: Environment.Variables.POWERTOOLS_METRICS_NAMESPACE, level: Environment.Variables.LOG_LEVEL },
          { service: 'warden-control-plane', namespace: 'Warden', level: cdkContext.logLevel },
        );
      }
    });

    it('puts the public routes behind the JWT authorizer and the proxy routes behind IAM', () => {
      const { controlPlane } = synthesized;
      const [authorizerId, authorizer] = ofType(controlPlane, 'AWS::ApiGatewayV2::Authorizer')[0]!;
      assert.equal(authorizer.Properties!.AuthorizerType, 'JWT');
      assert.deepEqual(authorizer.Properties!.JwtConfiguration.Audience, [cdkContext.tokenAudience]);
      assert.deepEqual([...handlerAuthenticated.keys()].sort(), ['/v1/slack/interactions', '/v1/token']);
      // The JWT authorizer fetches the issuer's discovery document and key set, and a browser loads the console before sign-in: they cannot be behind it.
      assert.deepEqual([...anonymous.keys()].sort(), ['/.well-known/jwks.json', '/.well-known/openid-configuration', '/console', '/console/{path+}', '/v1/console/config']);
      const routeResources = ofType(controlPlane, 'AWS::ApiGatewayV2::Route');
      assert.equal(routeResources.length, routes.length);
      for (const route of routes) {
        const found = routeResources.find(([, resource]) => resource.Properties!.RouteKey === `${route.method} ${route.path}`);
        assert.ok(found, `${route.method} ${route.path}`);
        const { AuthorizationType, AuthorizerId } = found[1].Properties!;
        if (route.audience === 'proxy') assert.equal(AuthorizationType, 'AWS_IAM', route.path);
        else if (handlerAuthenticated.has(route.path) || anonymous.has(route.path)) assert.equal(AuthorizationType, 'NONE', route.path);
        else assert.deepEqual({ AuthorizationType, AuthorizerId }, { AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } }, route.path);
      }
    });

    it("takes the JWT issuer from the context, else the API's own URL, and tells the functions", () => {
      const issuerOf = (template: Template) => ofType(template, 'AWS::ApiGatewayV2::Authorizer')[0]![1].Properties!.JwtConfiguration.Issuer;
      assert.equal(issuerOf(variant.controlPlane), 'https://warden.example.com');
      const apiId = ofType(synthesized.controlPlane, 'AWS::ApiGatewayV2::Api')[0]![0];
      assert.deepEqual(issuerOf(synthesized.controlPlane), { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] });
      variant.controlPlane.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'Warden functions/token.ts',
        Environment: { Variables: Match.objectLike({ WARDEN_TOKEN_ISSUER: 'https://warden.example.com', WARDEN_IDP_ISSUER: 'https://login.example.com', WARDEN_IDP_AUDIENCE: 'warden-gateway' }) },
      });
    });

    it("ships the configFile in every function's bundle, named by WARDEN_CONFIG_FILE and never in the 4 KB environment; the proxy fleet gets its text", () => {
      const variables = (template: Template) => ofType(template, 'AWS::Lambda::Function').map(([id, fn]) => [id, fn.Properties!.Environment.Variables as Record<string, unknown>] as const);
      for (const [id, environment] of variables(variant.controlPlane)) {
        assert.equal(environment.WARDEN_CONFIG_FILE, BUNDLED_CONFIG_FILE, id);
        assert.equal(environment.WARDEN_POLICY_FILE, undefined, `${id}: the config names no policy file`);
        assert.equal(environment.WARDEN_CONFIG_YAML, undefined, id);
        assert.ok(!JSON.stringify(environment).includes('orders.internal'), `${id}: no part of the config is in the environment`);
      }
      for (const [id, environment] of variables(synthesized.controlPlane)) {
        assert.deepEqual([environment.WARDEN_CONFIG_FILE, environment.WARDEN_POLICY_FILE, environment.WARDEN_CONFIG_YAML], [undefined, undefined, undefined], id);
      }
      const [, task] = ofType(variant.proxyFleet, 'AWS::ECS::TaskDefinition')[0]!;
      const environment = task.Properties!.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[];
      assert.equal(environment.find(({ Name }) => Name === 'WARDEN_CONFIG_YAML')?.Value, CONFIG_YAML);
    });

    it("names the config's policy file, shipped beside it, with WARDEN_POLICY_FILE", () => {
      // What the bundle holds is tested where the bundling commands run (test/functions/policy-bundle.test.ts): this app skips bundling.
      const configFile = writeConfigFile(`${CONFIG_YAML}policy:\n  file: custom.cedar\n`, { 'custom.cedar': 'permit (principal, action, resource);\n' });
      const app = buildApp(new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], configFile } }));
      const controlPlane = Template.fromStack(app.node.findChild('WardenControlPlane') as Stack);
      const functions = ofType(controlPlane, 'AWS::Lambda::Function');
      assert.ok(functions.length > 0, 'the control plane has functions');
      for (const [id, fn] of functions) {
        const { WARDEN_CONFIG_FILE, WARDEN_POLICY_FILE } = fn.Properties!.Environment.Variables as Record<string, unknown>;
        assert.deepEqual({ WARDEN_CONFIG_FILE, WARDEN_POLICY_FILE }, { WARDEN_CONFIG_FILE: BUNDLED_CONFIG_FILE, WARDEN_POLICY_FILE: BUNDLED_POLICY_FILE }, id);
      }
    });

    it('logs API access without headers, and throttles the stage', () => {
      const stage = ofType(synthesized.controlPlane, 'AWS::ApiGatewayV2::Stage')[0]![1].Properties!;
      assert.equal(stage.StageName, '$default');
      assert.ok(stage.AccessLogSettings.DestinationArn, 'the stage logs access');
      assert.doesNotMatch(stage.AccessLogSettings.Format, /header|authorization/i);
      assert.ok(stage.DefaultRouteSettings.ThrottlingRateLimit > 0, 'the stage throttles');
    });

    it('runs the integrator, the checkpointer, the evidence export and the end of orphaned sessions on EventBridge schedules', () => {
      const { controlPlane } = synthesized;
      const roles = functionsByRole(controlPlane);
      const functionEntry = new Map(ofType(controlPlane, 'AWS::Lambda::Function').map(([id, fn]) => [id, roles.get(fn.Properties!.Role['Fn::GetAtt'][0])]));
      const scheduled = ofType(controlPlane, 'AWS::Events::Rule').map(([, rule]) => [functionEntry.get(rule.Properties!.Targets[0].Arn['Fn::GetAtt'][0]), rule.Properties!.ScheduleExpression]);
      assert.deepEqual(scheduled.sort(), [
        ['functions/export-scheduled.ts', Schedule.rate(Duration.minutes(cdkContext.evidenceExportIntervalMinutes as number)).expressionString],
        ['infra/handlers/checkpoint.ts', 'rate(1 minute)'],
        ['infra/handlers/end-orphaned-sessions.ts', 'rate(5 minutes)'],
        ['infra/handlers/integrate.ts', 'rate(1 minute)'],
      ]);
    });
  });

  describe('proxy fleet', () => {
    it('listens on PostgreSQL, SSH and Kubernetes ports of an internal NLB by default, and an internet-facing one by context', () => {
      synthesized.proxyFleet.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internal' });
      variant.proxyFleet.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internet-facing' });
      const { proxyFleet } = synthesized;
      assert.deepEqual(
        proxyPorts.map(({ port, containerPort }) => [port, containerPort]),
        [
          [5432, 15432],
          [22, 2222],
          [443, 8443],
        ],
      );
      for (const { port, containerPort } of proxyPorts) {
        const groupId = logicalIdOf(proxyFleet, 'AWS::ElasticLoadBalancingV2::TargetGroup', { Port: containerPort });
        proxyFleet.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: port, Protocol: 'TCP', DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: groupId } }] });
        proxyFleet.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: containerPort, Protocol: 'TCP', TargetType: 'ip' });
      }
    });

    it('admits clients only from clientCidrs, else the VPC, and reaches the tasks only from the NLB', () => {
      const ingress = (template: Template) =>
        ofType(template, 'AWS::EC2::SecurityGroup')
          .flatMap(([, group]) => (group.Properties!.SecurityGroupIngress ?? []) as { CidrIp: string; FromPort: number }[])
          .map(({ CidrIp, FromPort }) => `${CidrIp}:${FromPort}`)
          .sort();
      assert.deepEqual(ingress(synthesized.proxyFleet), ['10.80.0.0/16:22', '10.80.0.0/16:443', '10.80.0.0/16:5432']);
      assert.deepEqual(ingress(variant.proxyFleet), ['0.0.0.0/0:22', '0.0.0.0/0:443', '0.0.0.0/0:5432']);
      for (const [, rule] of ofType(synthesized.proxyFleet, 'AWS::EC2::SecurityGroupIngress')) {
        assert.ok(rule.Properties!.SourceSecurityGroupId, 'task ingress comes from the NLB security group');
        assert.equal(rule.Properties!.CidrIp, undefined);
      }
    });

    it('scales on CPU and on active connections per task', () => {
      const { proxyFleet } = synthesized;
      proxyFleet.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' } },
      });
      proxyFleet.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: {
          CustomizedMetricSpecification: {
            Metrics: Match.arrayWith([
              Match.objectLike({ Id: 'flows', MetricStat: Match.objectLike({ Metric: Match.objectLike({ Namespace: 'AWS/NetworkELB', MetricName: 'ActiveFlowCount' }) }) }),
              Match.objectLike({ Id: 'tasks', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'HealthyHostCount' }) }) }),
              { Id: 'perTask', Expression: 'flows / tasks', Label: Match.anyValue(), ReturnData: true },
            ]),
          },
        },
      });
      proxyFleet.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 10, ScalableDimension: 'ecs:service:DesiredCount' });
    });

    it('runs arm64 Fargate tasks in private subnets of a two-AZ VPC with NAT and flow logs', () => {
      const { proxyFleet } = synthesized;
      proxyFleet.hasResourceProperties('AWS::ECS::TaskDefinition', { RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' }, RequiresCompatibilities: ['FARGATE'] });
      proxyFleet.hasResourceProperties('AWS::ECS::Service', { NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } } });
      proxyFleet.resourceCountIs('AWS::EC2::NatGateway', 2);
      proxyFleet.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
      proxyFleet.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
    });
  });
});
