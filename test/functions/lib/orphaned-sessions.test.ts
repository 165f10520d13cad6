/**
 * The sweep of orphaned sessions: a session whose token expired more than the grace period ago
 * and that no proxy ended gets its session.end, once, with the reason; sessions still valid, or
 * expired too recently for a live proxy to have missed, are left to their proxy.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { wardenConfigSchema } from '../../../core/config.js';
import { verifyChains } from '../../../core/ledger/chain-verify.js';
import { startDynalite, type EmbeddedDynalite } from '../../../functions/lib/dynamodb.js';
import { Integrator } from '../../../functions/lib/integrator.js';
import { LedgerReader } from '../../../functions/lib/ledger-reader.js';
import { ORPHAN_GRACE_MS, endOrphanedSessions } from '../../../functions/lib/orphaned-sessions.js';
import { DEFAULT_POLICY_FILE, loadPolicyFile } from '../../../functions/lib/policy-files.js';
import { buildRuntime, type Runtime } from '../../../functions/lib/runtime.js';
import { ensureTables } from '../../../functions/lib/table-setup.js';

describe('endOrphanedSessions', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let runtime: Runtime;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-orphans-'));
    store = await startDynalite({});
    const config = wardenConfigSchema.parse({ connections: { app: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' } } });
    runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: 'test-proxy-key-0123456789', policy: await loadPolicyFile(DEFAULT_POLICY_FILE) });
    await ensureTables(runtime.client, 'warden');
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A session as sessions-start opens it: its record and its session.start entry. */
  async function openSession(id: string, expiresInMs: number): Promise<void> {
    const identity = { sub: `agent-${id}`, groups: [], chain: `chain-${id}`, act: [] };
    const startedAt = new Date(runtime.now() - 3_600_000).toISOString();
    await runtime.sessions.create({ id, identity, connection: 'app', startedAt, expiresAt: new Date(runtime.now() + expiresInMs).toISOString(), tokenId: `jti-${id}` });
    await runtime.ledger.append([{ session: id, type: 'session.start', time: startedAt, identity, connection: 'app', digest: 'd', data: {} }]);
  }

  it('ends each orphaned session once, with its reason, and leaves the others to their proxies', async () => {
    await openSession('orphan', -ORPHAN_GRACE_MS - 60_000);
    await openSession('just-expired', -60_000);
    await openSession('valid', 3_600_000);

    assert.deepEqual(await endOrphanedSessions(runtime), ['orphan']);
    assert.deepEqual(await endOrphanedSessions(runtime), [], 'a second sweep finds nothing more to end');

    const reader = new LedgerReader(runtime.client, 'warden');
    await new Integrator(runtime.client, reader).integrateAll();
    const entries = [];
    for await (const entry of reader.entries()) entries.push(entry);
    const ends = entries.filter((entry) => JSON.parse(entry.entry).type === 'session.end');
    assert.deepEqual(ends.map((entry) => entry.session), ['orphan']);
    assert.match(JSON.parse(ends[0]!.entry).data.reason, /^no proxy ended the session: its token expired at .* and the proxy serving it had stopped; ended by the control plane$/);
    assert.ok(verifyChains(entries).ok, 'the session.end continues the orphan\'s hash chain');
    assert.ok((await runtime.sessions.get('orphan'))?.endedAt, 'the sessions table says it ended');
    assert.equal((await runtime.sessions.get('valid'))?.endedAt, undefined);
  });
});
