/** A local Secrets Manager for tests (secretsmanager over AWS JSON 1.1): GetSecretValue of the string secrets given. */
import { AwsError, startAwsJsonServer, type AwsJsonServer } from './aws-json-server.js';

/** `secrets`: ARN → SecretString. */
export function startLocalSecretsManager(secrets: Readonly<Record<string, string>>): Promise<AwsJsonServer> {
  return startAwsJsonServer('secretsmanager', {
    GetSecretValue: (input) => {
      const arn = String(input.SecretId);
      const value = secrets[arn];
      if (value === undefined) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      return { ARN: arn, Name: arn.split(':').at(-1), SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'] };
    },
  });
}
