/**
 * The DynamoDB tables of the control plane, declared from the same definitions the store
 * creates locally (functions/lib/tables.ts). The full control-plane, evidence and proxy-fleet
 * stacks build on this one.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, Billing, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { physicalTableName, tables, type TableDefinition } from '../../functions/lib/tables.js';

export interface LedgerStoreStackProps extends StackProps {
  readonly tablePrefix: string;
}

export class LedgerStoreStack extends Stack {
  readonly tables: ReadonlyMap<string, TableV2>;

  constructor(scope: Construct, id: string, props: LedgerStoreStackProps) {
    super(scope, id, props);
    this.tables = new Map(tables.map((definition) => [definition.logicalName, this.declare(definition, props.tablePrefix)]));
  }

  private declare(definition: TableDefinition, prefix: string): TableV2 {
    const attribute = (key: { name: string; type: 'S' | 'N' }) => ({ name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER });
    return new TableV2(this, `${definition.logicalName}-table`, {
      tableName: physicalTableName(prefix, definition),
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
      billing: Billing.onDemand(),
      // Audit data: point-in-time recovery, no accidental deletes, encryption at rest.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
