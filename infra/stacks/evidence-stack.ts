/** Where evidence outlives everything else: the Object Lock bucket, its own stack so no other stack's change can replace it. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { EvidenceBucket } from '../constructs/evidence-bucket.js';

export interface EvidenceStackProps extends StackProps {
  readonly retentionDays: number;
  readonly prefix: string;
}

export class EvidenceStack extends Stack {
  readonly bucket: IBucket;
  readonly writePolicy: IManagedPolicy;
  readonly recordingPolicies: { readonly put: IManagedPolicy; readonly read: IManagedPolicy };

  constructor(scope: Construct, id: string, props: EvidenceStackProps) {
    super(scope, id, props);
    const evidence = new EvidenceBucket(this, 'Evidence', { retentionDays: props.retentionDays, prefix: props.prefix });
    this.bucket = evidence.bucket;
    this.writePolicy = evidence.writePolicy;
    this.recordingPolicies = evidence.recordingPolicies;
    new CfnOutput(this, 'EvidenceBucketName', { value: this.bucket.bucketName, description: 'Checkpoints and evidence bundles, under Object Lock (COMPLIANCE)' });
  }
}
