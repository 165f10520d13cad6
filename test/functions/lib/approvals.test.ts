/**
 * The approval rules against the real store (dynalite) with a clock the test moves: who may
 * approve, N of M, expiry, single use, and two decisions racing.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { wardenConfigSchema } from '../../../core/config.js';
import type { IdentityChain, LedgerEntry } from '../../../core/ledger/entry.js';
import { ApprovalStore, type ApprovalRecord } from '../../../functions/lib/approval-store.js';
import { ApprovalService, type Approver } from '../../../functions/lib/approvals.js';
import { createDynamoClient } from '../../../functions/lib/dynamodb.js';
import type { PolicyDecision } from '../../../functions/lib/policy-engine.js';
import { PREFIX, startTestLedger, type TestLedger } from '../../helpers/ledger.js';

const requester: IdentityChain = { sub: 'alice', groups: ['eng', 'approvers'], chain: 'chain-1', act: [{ sub: 'agent-1' }, { sub: 'agent-2' }] };
/** The promise rejects with a WardenError of this code whose message matches. */
const rejectsWith = (promise: Promise<unknown>, code: string, message: RegExp) => assert.rejects(promise, { name: 'WardenError', code, message });
const person = (sub: string, ...groups: string[]): Approver => ({ sub, groups, act: [] });
const held = (quorum = 1, groups: string[] = []): PolicyDecision => ({
  outcome: 'approval',
  reason: 'UPDATE or DELETE without WHERE changes every row',
  policies: ['no-delete-all'],
  requirements: [{ policy: 'no-delete-all', groups, quorum }],
});

describe('ApprovalService', () => {
  let ledger: TestLedger;
  let service: ApprovalService;
  let clock: number;
  let commandId = 0;

  before(async () => {
    ledger = await startTestLedger();
  });
  after(async () => ledger?.close());
  beforeEach(() => {
    clock = Date.parse('2026-11-26T12:00:00Z');
    const client = createDynamoClient({ endpoint: ledger.store.endpoint, region: 'us-east-1' });
    const config = wardenConfigSchema.parse({ store: { tablePrefix: PREFIX }, approvals: { ttlSeconds: 600 } });
    service = new ApprovalService(new ApprovalStore(client, PREFIX), ledger.writer, config, () => 'https://warden.example', () => clock);
  });

  const open = async (decision = held(), digest = 'digest-1'): Promise<ApprovalRecord> => {
    const { record, entry } = await service.open({
      subject: { kind: 'command', sessionId: 'session-1', commandId: commandId++, text: 'DELETE FROM orders', digest },
      requester,
      connection: 'app',
      decision,
      justification: 'ticket OPS-7',
    });
    await ledger.writer.append([entry]);
    return record;
  };
  /** Integrated ledger entries of one type about approval `id`. */
  const entriesAbout = async (id: string, type = 'approval.decided'): Promise<LedgerEntry[]> => {
    await ledger.integrator.integrateAll();
    return (await ledger.entries()).map((stored) => JSON.parse(stored.entry) as LedgerEntry).filter((entry) => entry.type === type && entry.data.approval === id);
  };
  const decidedEntries = (id: string) => entriesAbout(id);

  it('opens a pending request with the default approver group, the justification and the expiry', async () => {
    const record = await open();
    assert.equal(record.status, 'pending');
    assert.deepEqual(record.requirements[0]!.groups, ['approvers']);
    assert.equal(record.justification, 'ticket OPS-7');
    assert.equal(record.expiresAt, '2026-11-26T12:10:00.000Z');
    assert.equal(service.urlOf(record.id), `https://warden.example/v1/approvals/${record.id}`);
  });

  it('refuses approvers who are not people with their own token, not in the group, or in the chain', async () => {
    const { id } = await open();
    await rejectsWith(service.decide(id, person('dave', 'eng'), 'approve', 'ok', 'cli'), 'NOT_AN_APPROVER', /not in an approver group for this request \(approvers\)/);
    await rejectsWith(service.decide(id, person('alice', 'approvers'), 'approve', 'mine', 'cli'), 'NOT_AN_APPROVER', /in the requester's chain \(alice ← agent-1 ← agent-2\)/);
    await rejectsWith(service.decide(id, person('agent-2', 'approvers'), 'approve', 'mine', 'slack'), 'NOT_AN_APPROVER', /in the requester's chain/);
    await rejectsWith(
      service.decide(id, { sub: 'bob', groups: ['approvers'], act: [{ sub: 'helper-agent' }] }, 'approve', 'via agent', 'api'),
      'NOT_AN_APPROVER',
      /not by agents or workloads/,
    );
    await rejectsWith(service.decide(id, { sub: 'robot', groups: ['approvers'], act: [], workload: true }, 'approve', 'ok', 'api'), 'NOT_AN_APPROVER', /not by agents/);
    assert.equal((await service.get(id)).status, 'pending', 'none of those changed anything');
    assert.equal((await decidedEntries(id)).length, 0);
  });

  it('needs N of M: two approvals from the named group, each person once', async () => {
    const { id } = await open(held(2, ['dba']));
    assert.equal((await service.decide(id, person('bob', 'dba'), 'approve', 'looks right', 'cli')).status, 'pending');
    await rejectsWith(service.decide(id, person('bob', 'dba'), 'approve', 'again', 'cli'), 'ALREADY_DECIDED', /bob has already decided/);
    const approved = await service.decide(id, person('carol', 'dba'), 'approve', 'agreed', 'slack');
    assert.equal(approved.status, 'approved');
    assert.deepEqual(
      approved.decisions.map((d) => [d.approver, d.reason, d.via]),
      [
        ['bob', 'looks right', 'cli'],
        ['carol', 'agreed', 'slack'],
      ],
    );
    const entries = await decidedEntries(id);
    assert.deepEqual(
      entries.map((e) => [e.data.approver, e.data.status]),
      [
        [{ sub: 'bob', groups: ['dba'] }, 'pending'],
        [{ sub: 'carol', groups: ['dba'] }, 'approved'],
      ],
    );
    assert.equal(entries[0]!.session, 'session-1', 'decisions join the requesting session chain');
    assert.deepEqual(entries[0]!.identity, requester);
  });

  it('denies on the first deny, and nothing can change it afterwards', async () => {
    const { id } = await open(held(2, ['dba']));
    await service.decide(id, person('bob', 'dba'), 'approve', 'fine', 'cli');
    const denied = await service.decide(id, person('carol', 'dba'), 'deny', 'not during the sale', 'cli');
    assert.equal(denied.status, 'denied');
    await rejectsWith(service.decide(id, person('erin', 'dba'), 'approve', 'late', 'cli'), 'ALREADY_DECIDED', /already denied: denied by carol: not during the sale/);
  });

  it('expires a request nobody decided, records the expiry once, and refuses approving it after', async () => {
    const { id } = await open();
    clock += 600_000;
    const [status] = await service.statuses([id]);
    assert.equal(status!.status, 'expired');
    await rejectsWith(service.decide(id, person('bob', 'approvers'), 'approve', 'too late', 'slack'), 'APPROVAL_EXPIRED', /expired at 2026-11-26T12:10:00.000Z/);
    await service.statuses([id]);
    assert.equal((await entriesAbout(id, 'approval.expired')).length, 1);
  });

  it('lets two racing decisions have one winner, recorded once', async () => {
    const { id } = await open();
    const outcomes = await Promise.allSettled([
      service.decide(id, person('bob', 'approvers'), 'approve', 'yes', 'slack'),
      service.decide(id, person('carol', 'approvers'), 'deny', 'no', 'cli'),
      service.decide(id, person('erin', 'approvers'), 'approve', 'yes too', 'api'),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(won.length, 1, 'exactly one decision wins');
    for (const lost of outcomes.filter((o) => o.status === 'rejected')) assert.equal((lost.reason as { code: string }).code, 'ALREADY_DECIDED');
    const final = await service.get(id);
    assert.equal(final.decisions.length, 1);
    assert.equal((await decidedEntries(id)).length, 1);
  });

  it('runs an approved command once, only in its session, only for the same statement and values', async () => {
    const { id } = await open(held(), 'digest-of-delete');
    await rejectsWith(service.use(id, 'session-1', 'digest-of-delete'), 'ALREADY_DECIDED', /is pending, not approved/);
    await service.decide(id, person('bob', 'approvers'), 'approve', 'ok', 'cli');
    await rejectsWith(service.use(id, 'session-2', 'digest-of-delete'), 'UNKNOWN_APPROVAL', /not given for this command in this session/);
    await rejectsWith(service.use(id, 'session-1', 'digest-of-another-statement'), 'UNKNOWN_APPROVAL', /not given for this command/);
    assert.equal((await service.use(id, 'session-1', 'digest-of-delete')).status, 'approved');
    await rejectsWith(service.use(id, 'session-1', 'digest-of-delete'), 'ALREADY_DECIDED', /is used, not approved/);
  });
});
