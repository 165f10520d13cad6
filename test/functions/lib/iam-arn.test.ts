/** IAM role and STS session ARNs: what the proxy routes' IAM check compares. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSessionOf, parseRoleArn, parseSessionArn } from '../../../functions/lib/iam-arn.js';

const ROLE = 'arn:aws:iam::123456789012:role/warden-proxy';
const SESSION = 'arn:aws:sts::123456789012:assumed-role/warden-proxy/4c8b3b1e0f6a4f1d9b2e7a6c5d4e3f21';

describe('iam-arn', () => {
  it('parses role ARNs, with or without a path', () => {
    const cases: [arn: string, want: ReturnType<typeof parseRoleArn>][] = [
      [ROLE, { partition: 'aws', account: '123456789012', roleName: 'warden-proxy' }],
      ['arn:aws:iam::123456789012:role/service-role/warden/warden-proxy', { partition: 'aws', account: '123456789012', roleName: 'warden-proxy' }],
      ['arn:aws-us-gov:iam::123456789012:role/Warden+Proxy=1,a.b@c-d_e', { partition: 'aws-us-gov', account: '123456789012', roleName: 'Warden+Proxy=1,a.b@c-d_e' }],
      ['arn:aws:iam::123456789012:user/warden-proxy', undefined],
      ['arn:aws:iam::123456789012:role/', undefined],
      ['arn:aws:iam::123456789012:role/path/', undefined],
      ['arn:aws:iam::12345678901:role/warden-proxy', undefined],
      ['arn:aws:iam:us-east-1:123456789012:role/warden-proxy', undefined],
      ['arn:aws:sts::123456789012:role/warden-proxy', undefined],
      [`${ROLE} `, undefined],
      [SESSION, undefined],
    ];
    for (const [arn, want] of cases) assert.deepEqual(parseRoleArn(arn), want, arn);
  });

  it('parses assumed-role session ARNs, and nothing else as one', () => {
    const cases: [arn: string, want: ReturnType<typeof parseSessionArn>][] = [
      [SESSION, { partition: 'aws', account: '123456789012', roleName: 'warden-proxy' }],
      ['arn:aws-cn:sts::123456789012:assumed-role/warden-proxy/s1', { partition: 'aws-cn', account: '123456789012', roleName: 'warden-proxy' }],
      [ROLE, undefined],
      ['arn:aws:iam::123456789012:user/warden-proxy', undefined],
      ['arn:aws:iam::123456789012:root', undefined],
      ['arn:aws:sts::123456789012:federated-user/warden-proxy', undefined],
      ['arn:aws:sts::123456789012:assumed-role/warden-proxy', undefined],
      ['arn:aws:sts::123456789012:assumed-role/path/warden-proxy/session', undefined],
      ['arn:aws:sts::123456789012:assumed-role/warden-proxy/x', undefined],
    ];
    for (const [arn, want] of cases) assert.deepEqual(parseSessionArn(arn), want, arn);
  });

  it('matches a session to its role on partition, account and exact name', () => {
    const role = parseRoleArn('arn:aws:iam::123456789012:role/service/warden-proxy')!;
    assert.equal(isSessionOf(SESSION, role), true);
    assert.equal(isSessionOf('arn:aws:sts::999999999999:assumed-role/warden-proxy/s1', role), false, 'another account');
    assert.equal(isSessionOf('arn:aws-cn:sts::123456789012:assumed-role/warden-proxy/s1', role), false, 'another partition');
    assert.equal(isSessionOf('arn:aws:sts::123456789012:assumed-role/warden-proxy-admin/s1', role), false, 'a longer name');
    assert.equal(isSessionOf('arn:aws:sts::123456789012:assumed-role/Warden-Proxy/s1', role), false, 'another case');
    assert.equal(isSessionOf('arn:aws:sts::123456789012:assumed-role/warden/s1', role), false, 'a path segment is not the name');
    assert.equal(isSessionOf('arn:aws:iam::123456789012:role/service/warden-proxy', role), false, 'the role itself is no session');
  });
});
