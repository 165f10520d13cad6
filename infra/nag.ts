/** Acknowledging cdk-nag findings that name a resource. */
import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges the AwsSolutions-IAM5 finding for one wildcard resource of a policy in the
 * same stack. cdk-nag 3 matches a finding by its exact text, which it renders from the
 * resolved ARN with this function; a reference to another stack would render differently
 * after synthesis, so such policies live in the stack that owns the resource.
 */
export function acknowledgeWildcardResource(policy: IConstruct, arn: string, reason: string): void {
  const finding = flattenCfnReference(Stack.of(policy).resolve(arn));
  Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${finding}]`, reason });
}
