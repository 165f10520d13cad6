/**
 * The evidence bucket: versioned, Object Lock in COMPLIANCE mode, so nobody, the account root
 * included, can delete or overwrite an object version before its retention ends.
 *
 * S3-managed encryption, not a KMS key: the threat to evidence is its destruction, not its
 * reading (it is masked before it is written, DESIGN.md invariant 2). A CMK would add a way
 * around Object Lock: whoever may schedule the key's deletion could make every locked object
 * unreadable. With SSE-S3 there is no key anyone can delete.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RECORDINGS_FOLDER } from '../../functions/lib/evidence/s3-recordings.js';
import { acknowledgeWildcardResource } from '../nag.js';

export interface EvidenceBucketProps {
  readonly retentionDays: number;
  /** Writers may write under this prefix only. */
  readonly prefix: string;
}

export class EvidenceBucket extends Construct {
  readonly bucket: Bucket;
  /** Server access logs of the evidence bucket: who read or wrote what, and when. */
  readonly accessLogs: Bucket;
  /**
   * PutObject, PutObjectRetention and GetObject under the prefix: no delete, no retention change.
   * Reading back lets a retried write tell the same object (done) from a different one (conflict).
   */
  readonly writePolicy: ManagedPolicy;
  /** Session recordings under the prefix's recordings folder: `put` signs the proxy's PUT of one, `read` serves them. */
  readonly recordingPolicies: { readonly put: ManagedPolicy; readonly read: ManagedPolicy };

  constructor(scope: Construct, id: string, props: EvidenceBucketProps) {
    super(scope, id);
    const common = {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    // Log delivery writes with SSE-S3 only; a KMS-encrypted target bucket would drop the logs.
    this.accessLogs = new Bucket(this, 'AccessLogs', common);
    Validations.of(this.accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log target of the evidence bucket; logging it into itself would log its own log deliveries without end.' });
    this.bucket = new Bucket(this, 'Evidence', {
      ...common,
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(Duration.days(props.retentionDays)),
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'evidence/',
    });
    const objects = this.bucket.arnForObjects(`${props.prefix}*`);
    this.writePolicy = new ManagedPolicy(this, 'Write', {
      description: 'Warden: write evidence objects (checkpoints, bundles) once',
      statements: [new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention'], resources: [objects] })],
    });
    acknowledgeWildcardResource(this.writePolicy, objects, 'Evidence keys are named by checkpoint size and export window when written; the * covers the evidence prefix only, and Object Lock keeps every version.');
    const recordings = this.bucket.arnForObjects(`${props.prefix}${RECORDINGS_FOLDER}*`);
    const recordingPolicy = (id: string, description: string, actions: string[]) => {
      const policy = new ManagedPolicy(this, id, { description, statements: [new PolicyStatement({ actions, resources: [recordings] })] });
      acknowledgeWildcardResource(policy, recordings, 'Recordings are named by session and command when the session ends; the * covers the recordings folder only, and Object Lock keeps every version.');
      return policy;
    };
    this.recordingPolicies = {
      // The presigned PUT the proxy sends carries the signer's permissions: the signer needs them itself.
      put: recordingPolicy('RecordingPut', 'Warden: sign the proxy\'s PUT of a session recording (never a delete)', ['s3:PutObject', 's3:PutObjectRetention']),
      read: recordingPolicy('RecordingRead', 'Warden: read session recordings', ['s3:GetObject']),
    };
  }
}
