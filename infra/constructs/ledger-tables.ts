/**
 * The DynamoDB tables of the control plane, declared from the same definitions the store
 * creates locally (functions/lib/tables.ts). AWS::DynamoDB::Table rather than TableV2: a
 * TableV2 under a customer-managed key cannot be rendered in an environment-agnostic stack.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { physicalTableName, tables, type TableDefinition } from '../../functions/lib/tables.js';

export interface LedgerTablesProps {
  readonly tablePrefix: string;
  readonly key: IKey;
}

export class LedgerTables extends Construct {
  /** By logical name (functions/lib/tables.ts). */
  readonly tables: ReadonlyMap<string, Table>;

  constructor(scope: Construct, id: string, props: LedgerTablesProps) {
    super(scope, id);
    this.tables = new Map(tables.map((definition) => [definition.logicalName, this.declare(definition, props)]));
  }

  table(definition: TableDefinition): Table {
    const table = this.tables.get(definition.logicalName);
    if (!table) throw new Error(`no table ${definition.logicalName}`);
    return table;
  }

  private declare(definition: TableDefinition, { tablePrefix, key }: LedgerTablesProps): Table {
    const attribute = (attr: { name: string; type: 'S' | 'N' }) => ({ name: attr.name, type: attr.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER });
    return new Table(this, `${definition.logicalName}-table`, {
      tableName: physicalTableName(tablePrefix, definition),
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // Audit data: point-in-time recovery, no accidental deletes, encryption under our key.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
