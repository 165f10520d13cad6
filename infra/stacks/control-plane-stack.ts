/**
 * The serverless control plane: the HTTP API and one Lambda per handler entry of
 * functions/routes.ts, the scheduled jobs of infra/schedules.ts, the DynamoDB tables of
 * functions/lib/tables.ts, the signing keys and the secrets.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { routes } from '../../functions/routes.js';
import { routeAccess } from '../access.js';
import { ControlPlaneApi } from '../constructs/control-plane-api.js';
import { ControlPlaneFunction, type ControlPlaneResources, type EvidenceDestination } from '../constructs/control-plane-function.js';
import { ControlPlaneSecrets } from '../constructs/control-plane-secrets.js';
import { DataKey } from '../constructs/data-key.js';
import { LedgerTables } from '../constructs/ledger-tables.js';
import { SigningKeys } from '../constructs/signing-keys.js';
import type { ScheduledJob } from '../schedules.js';
import type { DeployedConfig, Settings } from '../settings.js';

export interface ControlPlaneStackProps extends StackProps {
  readonly settings: Settings;
  /** The configFile context parameter, read and checked: every function ships it in its bundle. */
  readonly config?: DeployedConfig | undefined;
  readonly evidence: EvidenceDestination;
  readonly jobs: readonly ScheduledJob[];
}

/** `sessions-start.ts` → `SessionsStart`. */
const constructId = (file: string) =>
  file
    .replace(/^.*\//, '')
    .replace(/\.ts$/, '')
    .replace(/(^|-)([a-z])/g, (_, __: string, letter: string) => letter.toUpperCase());

export class ControlPlaneStack extends Stack {
  readonly api: ControlPlaneApi;

  constructor(scope: Construct, id: string, props: ControlPlaneStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const dataKey = new DataKey(this, 'DataKey', 'Warden control plane: tables, secrets and logs');
    this.api = new ControlPlaneApi(this, 'Api', { logs: dataKey, tokenIssuer: settings.tokenIssuer, tokenAudience: settings.tokenAudience });
    const signingKeys = new SigningKeys(this, 'SigningKeys');
    const resources: ControlPlaneResources = {
      settings,
      config: props.config,
      tokenIssuer: this.api.tokenIssuer,
      proxyRoleArn: this.api.proxyRole.roleArn,
      dataKey,
      tables: new LedgerTables(this, 'Tables', { tablePrefix: settings.tablePrefix, key: dataKey }),
      signingKeys,
      secrets: new ControlPlaneSecrets(this, 'Secrets', { key: dataKey, slackWebhookUrlSecretName: settings.slackWebhookUrlSecretName, slackSigningSecretName: settings.slackSigningSecretName }),
      evidence: props.evidence,
    };

    const functions = new Map<string, IFunction>();
    for (const entry of new Set(routes.map((route) => route.entry))) {
      const created = new ControlPlaneFunction(this, constructId(entry), { entry: `functions/${entry}`, access: routeAccess(entry, routes), resources, timeout: Duration.seconds(10) });
      functions.set(entry, created.function);
    }
    this.api.addRoutes(routes, functions);

    for (const job of props.jobs) {
      const created = new ControlPlaneFunction(this, constructId(job.entry), { entry: job.entry, access: job.access, resources, timeout: job.timeout, ...(job.environment ? { environment: job.environment } : {}) });
      new Rule(this, `${constructId(job.entry)}Schedule`, { description: `Warden ${job.name}`, schedule: Schedule.rate(job.every), targets: [new LambdaFunction(created.function)] });
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.api.apiEndpoint, description: 'The control plane: POST /v1/token, and the proxy routes the fleet calls' });
    new CfnOutput(this, 'TokenSigningKeyId', { value: signingKeys.tokens.keyId, description: 'KMS key of Warden tokens (RS256)' });
    new CfnOutput(this, 'LogSigningKeyId', { value: signingKeys.log.keyId, description: "KMS key of the log's checkpoints (Ed25519): aws kms get-public-key gives auditors the key to verify with" });
  }
}
