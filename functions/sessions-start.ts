/** POST /v1/sessions — a proxy presents a client's Warden token and opens a recorded session. */
import { randomUUID } from 'node:crypto';
import { sessionStartRequestSchema, type SessionStartResponse } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { contentDetectors } from '../core/masking/detectors.js';
import { maskText } from '../core/masking/mask-text.js';
import type { IdentityChain } from '../core/ledger/entry.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime, keyedDigest } from './lib/runtime.js';
import { identityOf } from './lib/tokens.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const { config, sessions, ledger, tokens, now } = runtime;
    const policyVersion = runtime.policy.version;
    const request = parseJsonBody(event, sessionStartRequestSchema);
    if (!(request.connection in config.connections)) {
      const known = Object.keys(config.connections).join(', ') || '(none)';
      throw new WardenError('UNKNOWN_CONNECTION', `no connection named "${request.connection}"; use one of: ${known}`);
    }
    const kind = config.connections[request.connection]!.kind;
    if (kind !== request.protocol) throw new WardenError('UNKNOWN_CONNECTION', `"${request.connection}" is a ${kind} connection, not ${request.protocol}`);
    const claims = await tokens.verify(request.token, request.connection);
    await runtime.revocations.ensureNotRevoked(claims);
    const token = identityOf(claims);
    const grants = await runtime.grants.activeFor(token, request.connection);
    const identity: IdentityChain = grants.length > 0 ? { ...token, roles: [...new Set(grants.map((grant) => grant.role))].sort() } : token;
    const sessionId = randomUUID();
    const time = new Date(now()).toISOString();
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    // Said at connect time, or carried by the token; free text, so masked before it is stored or shown.
    const said = request.client.justification ?? claims.justification;
    const justification = said === undefined ? undefined : maskText(said, contentDetectors).text;
    await sessions.create({ id: sessionId, identity, connection: request.connection, startedAt: time, expiresAt, tokenId: claims.jti, ...(justification ? { justification } : {}), ...(grants.length > 0 ? { grants: grants.map((grant) => grant.id) } : {}) });
    await ledger.append([
      {
        session: sessionId,
        type: 'session.start',
        digest: keyedDigest(runtime, request.token),
        time,
        identity,
        connection: request.connection,
        data: {
          protocol: request.protocol,
          client: { ...request.client, ...(request.client.justification === undefined ? {} : { justification }) },
          token: { jti: claims.jti, expiresAt },
          policyVersion,
          ...(grants.length > 0 ? { grants: grants.map((grant) => ({ id: grant.id, role: grant.role, expiresAt: grant.expiresAt })) } : {}),
        },
      },
    ]);
    const masking = { columns: config.masking.columns, detectors: config.masking.detectors ?? contentDetectors.map((detector) => detector.id) };
    const response: SessionStartResponse = { sessionId, identity, connection: request.connection, policyVersion, expiresAt, masking };
    return json(201, response);
  });
