/** Who calls a user route: the person whose Warden token is the bearer credential. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { WardenError } from '../../core/errors.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { Runtime } from './runtime.js';
import { identityOf } from './tokens.js';

export async function callerOf(event: APIGatewayProxyEventV2, runtime: Runtime): Promise<IdentityChain> {
  const header = event.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) {
    throw new WardenError('INVALID_TOKEN', 'send your Warden token as "Authorization: Bearer …"; get one with: warden login --device');
  }
  const claims = await runtime.tokens.verify(header.slice(7).trim());
  await runtime.revocations.ensureNotRevoked(claims);
  return identityOf(claims);
}
