/**
 * POST /v1/sessions/status — which running sessions must end: revoked (their token or their
 * whole chain), past their token's expiry, or started with a grant that has ended. The proxy polls it, so a revocation ends
 * running sessions within the poll interval plus the revocation cache (a few seconds).
 */
import { sessionStatusRequestSchema, type SessionStatusResponse } from '../core/contract.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { Revocations } from './lib/revocations.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const { sessions, revocations, grants, now } = getRuntime();
    const { sessionIds } = parseJsonBody(event, sessionStatusRequestSchema);
    const records = await Promise.all(sessionIds.map(async (id) => ({ id, record: await sessions.get(id) })));
    const keys = records.flatMap(({ record }) => (record ? [Revocations.tokenKey(record.tokenId), Revocations.chainKey(record.identity.chain)] : []));
    const revoked = await revocations.lookup(keys);
    const end: SessionStatusResponse['end'] = [];
    for (const { id, record } of records) {
      if (!record) {
        end.push({ sessionId: id, reason: 'the control plane does not know this session' });
        continue;
      }
      const revocation = revoked.get(Revocations.tokenKey(record.tokenId)) ?? revoked.get(Revocations.chainKey(record.identity.chain));
      if (revocation) end.push({ sessionId: id, reason: `the session's token was revoked at ${revocation.revokedAt} (${revocation.reason})` });
      else if (now() >= Date.parse(record.expiresAt)) end.push({ sessionId: id, reason: `the session's token expired at ${record.expiresAt}` });
      else {
        const ended = await grants.firstEnded(record.grants ?? []);
        if (ended) end.push({ sessionId: id, reason: `the session's ${ended}` });
      }
    }
    return json(200, { end });
  });

