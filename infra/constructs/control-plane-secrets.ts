/** The control plane's secrets, encrypted with its data key. Their values are set after deploy (see the README). */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SlackSecret } from '../access.js';

export interface ControlPlaneSecretsProps {
  readonly key: IKey;
  readonly slackWebhookUrlSecretName: string;
  readonly slackSigningSecretName: string;
}

export class ControlPlaneSecrets extends Construct {
  readonly slack: Readonly<Record<SlackSecret, Secret>>;
  /** The HMAC key of keyed payload digests (DESIGN.md, invariant 2), generated once. */
  readonly digestKey: Secret;

  constructor(scope: Construct, id: string, props: ControlPlaneSecretsProps) {
    super(scope, id);
    const common = { encryptionKey: props.key, removalPolicy: RemovalPolicy.RETAIN };
    this.slack = {
      webhookUrl: new Secret(this, 'SlackWebhookUrl', { ...common, secretName: props.slackWebhookUrlSecretName, description: 'Warden: the Slack incoming webhook URL approval requests are posted to' }),
      signingSecret: new Secret(this, 'SlackSigningSecret', { ...common, secretName: props.slackSigningSecretName, description: "Warden: the Slack app's signing secret (v0 request signatures)" }),
    };
    this.digestKey = new Secret(this, 'DigestKey', {
      ...common,
      description: 'Warden: HMAC key of keyed payload digests in the ledger',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    for (const secret of Object.values(this.slack)) {
      Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'Slack issues the webhook URL and the signing secret; they are rotated in the Slack app and then put here, which no rotation Lambda can do.' });
    }
    Validations.of(this.digestKey).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'Digests already in the ledger are keyed with this value and carry no key version; rotating it would make every earlier digest uncheckable.' });
  }
}
