/** The CDK app: wires stacks only. `npx cdk synth` works offline (environment-agnostic stacks). */
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ControlPlaneStack } from './stacks/control-plane-stack.js';
import { EvidenceStack } from './stacks/evidence-stack.js';
import { ProxyFleetStack } from './stacks/proxy-fleet-stack.js';
import { repositoryRoot } from './repository.js';
import { scheduledJobs } from './schedules.js';
import { readConfigFile, readSettings } from './settings.js';

/** Checkpoints and bundles are written under this prefix (core/config.ts's default evidence.export.s3.prefix). */
export const EVIDENCE_PREFIX = 'warden/evidence/';

export function buildApp(app = new App()): App {
  const settings = readSettings(app.node);
  // One warden.yaml: in each function's bundle, and inline in the proxy fleet's task.
  const config = settings.configFile === undefined ? undefined : readConfigFile(resolve(repositoryRoot, settings.configFile));
  const evidence = new EvidenceStack(app, 'WardenEvidence', {
    retentionDays: settings.evidenceRetentionDays,
    prefix: EVIDENCE_PREFIX,
    description: 'Warden evidence: S3 with Object Lock (COMPLIANCE)',
  });
  const controlPlane = new ControlPlaneStack(app, 'WardenControlPlane', {
    settings,
    config,
    evidence: { bucket: evidence.bucket, prefix: EVIDENCE_PREFIX, retentionDays: settings.evidenceRetentionDays, writePolicy: evidence.writePolicy, recordingPolicies: evidence.recordingPolicies },
    jobs: scheduledJobs(settings.evidenceExportIntervalMinutes),
    description: 'Warden control plane: HTTP API, Lambda handlers, DynamoDB ledger, signing keys',
  });
  new ProxyFleetStack(app, 'WardenProxyFleet', { settings, configYaml: config?.text, controlPlane: controlPlane.api, description: 'Warden proxy fleet: Fargate behind an NLB' });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) buildApp().synth();
