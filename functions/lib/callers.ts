/** Who calls a user route: the person whose Warden token is the bearer credential. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { WardenError } from '../../core/errors.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import { Revocations } from './revocations.js';
import type { Runtime } from './runtime.js';

export async function callerOf(event: APIGatewayProxyEventV2, runtime: Runtime): Promise<IdentityChain> {
  const header = event.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) {
    throw new WardenError('INVALID_TOKEN', 'send your Warden token as "Authorization: Bearer …"; get one with: warden login --device');
  }
  const claims = await runtime.tokens.verify(header.slice(7).trim());
  const revoked = await runtime.revocations.find([Revocations.tokenKey(claims.jti), Revocations.chainKey(claims.chain)]);
  if (revoked) throw new WardenError('TOKEN_REVOKED', `this token was revoked at ${revoked.revokedAt} (${revoked.reason})`);
  return { sub: claims.sub, groups: claims.groups, chain: claims.chain, act: claims.act, ...(claims.workload ? { workload: true } : {}) };
}
