/** The CDK app: wires stacks only. `npx cdk synth` works offline (environment-agnostic stacks). */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LedgerStoreStack } from './stacks/ledger-store-stack.js';

export function buildApp(app = new App()): App {
  new LedgerStoreStack(app, 'WardenLedgerStore', { tablePrefix: app.node.tryGetContext('tablePrefix') ?? 'warden', description: 'Warden ledger and session tables' });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) buildApp().synth();
