/**
 * POST /v1/results — the proxy reports what each authorized command did: rows sent, the
 * server's error if any, and masking counts per rule. Each becomes a command.result entry.
 */
import { canonicalJson } from '../core/canonical-json.js';
import { resultsRequestSchema } from '../core/contract.js';
import type { EntryDraft } from '../core/ledger/entry.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime, keyedDigest } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const { results } = parseJsonBody(event, resultsRequestSchema);
    const time = new Date(runtime.now()).toISOString();
    const drafts: EntryDraft[] = [];
    const unknown: string[] = [];
    for (const result of results) {
      const session = await runtime.sessions.get(result.sessionId);
      if (!session) {
        unknown.push(result.sessionId);
        continue;
      }
      const { sessionId: _session, ...data } = result;
      drafts.push({ session: session.id, type: 'command.result', time, identity: session.identity, connection: session.connection, digest: keyedDigest(runtime, canonicalJson(data)), data });
    }
    const written = drafts.length > 0 ? await runtime.ledger.append(drafts) : [];
    return json(202, { recorded: written.map((entry) => entry.id), unknownSessions: unknown });
  });
