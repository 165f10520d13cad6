/**
 * A stack's customer-managed key for data at rest: tables, secrets and log groups. A CMK
 * rather than the AWS-managed key because audit data wants a key policy of its own (who may
 * decrypt is decided here, not by whoever may call the service) and every use of it in
 * CloudTrail.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export class DataKey extends Key {
  constructor(scope: Construct, id: string, description: string) {
    super(scope, id, { description, enableKeyRotation: true, pendingWindow: Duration.days(30), removalPolicy: RemovalPolicy.RETAIN });
    // CloudWatch Logs encrypts with the key on behalf of this account's log groups only.
    this.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` } },
      }),
    );
  }

  /** A log group encrypted with this key, kept a year and kept when the stack goes. */
  logGroup(scope: Construct, id: string): LogGroup {
    return new LogGroup(scope, id, { encryptionKey: this, retention: RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
  }
}
