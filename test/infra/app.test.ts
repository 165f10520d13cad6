import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app.js';
import { LedgerStoreStack } from '../../infra/stacks/ledger-store-stack.js';
import { physicalTableName, tables } from '../../functions/lib/tables.js';

describe('CDK app', () => {
  it('synthesizes offline with cdk-nag AwsSolutions checks and no findings', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'warden-cdk-'));
    try {
      // cdk-nag reports violations by failing synth.
      const assembly = buildApp(new App({ outdir })).synth();
      assert.ok(assembly.getStackByName('WardenLedgerStore'));
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });

  it('declares every store table with the key schema the local store creates, protected for audit data', () => {
    const stack = new LedgerStoreStack(new App(), 'Test', { tablePrefix: 'acme' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', tables.length);
    for (const table of tables) {
      const keys = [table.partitionKey, ...(table.sortKey ? [table.sortKey] : [])];
      template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
        TableName: physicalTableName('acme', table),
        KeySchema: keys.map((key, i) => ({ AttributeName: key.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        SSESpecification: { SSEEnabled: true },
        Replicas: [{ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      });
    }
  });
});
