/**
 * IAM role ARNs, and the STS session ARNs the HTTP API's IAM authorizer names callers by. A
 * role ARN may carry a path (`arn:aws:iam::123456789012:role/service/warden-proxy`); the
 * session ARN of the same role never does (`arn:aws:sts::123456789012:assumed-role/warden-proxy/TASK`),
 * so a session belongs to a role when partition, account and role name are equal.
 */

export interface RoleIdentity {
  readonly partition: string;
  readonly account: string;
  readonly roleName: string;
}

// Partition: aws, aws-cn, aws-us-gov, aws-iso… Names and session names: IAM's character set.
// The path is whatever lies between `role/` and the last `/`: IAM allows printable ASCII in it.
const ROLE_ARN = /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const SESSION_ARN = /^arn:(aws(?:-[a-z]+)*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[\w+=,.@-]{2,64}$/;

export function parseRoleArn(arn: string): RoleIdentity | undefined {
  return identity(ROLE_ARN.exec(arn));
}

/** The role an assumed-role session ARN is a session of. IAM users, roots and roles themselves are not sessions. */
export function parseSessionArn(arn: string): RoleIdentity | undefined {
  return identity(SESSION_ARN.exec(arn));
}

export function isSessionOf(sessionArn: string, role: RoleIdentity): boolean {
  const session = parseSessionArn(sessionArn);
  return session !== undefined && session.partition === role.partition && session.account === role.account && session.roleName === role.roleName;
}

function identity(match: RegExpExecArray | null): RoleIdentity | undefined {
  if (!match) return undefined;
  return { partition: match[1]!, account: match[2]!, roleName: match[3]! };
}
