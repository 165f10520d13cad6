/**
 * Just-in-time grants: a role on one connection for a bounded time. Policy decides a
 * request (action grant:request): allowed grants start at once, held ones wait for the
 * approval workflow, denied ones are recorded and refused. An active grant makes its
 * holder's new sessions on that connection `in` Warden::Role::"<role>"; a session started
 * with a grant ends when the grant expires or is revoked.
 *
 * Every transition is a ledger entry on the system chain: grant.requested, grant.approved
 * and grant.activated (together), grant.denied, grant.expired, grant.revoked.
 */
import type { WardenConfig } from '../../core/config.js';
import { WardenError } from '../../core/errors.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import { SYSTEM_SESSION, type EntryDraft, type IdentityChain } from '../../core/ledger/entry.js';
import type { ApprovalRecord } from './approval-store.js';
import { summarize, type ApprovalService } from './approvals.js';
import type { BatchWriter } from './batch-writer.js';
import { newGrantId, type GrantRecord, type GrantStore } from './grant-store.js';
import type { PolicyEngine } from './policy-engine.js';

const MIN_SECONDS = 5;
const CACHE_MS = 1000;

export interface GrantRequest {
  readonly connection: string;
  readonly role: string;
  readonly seconds: number;
  readonly justification: string;
}

export class GrantService {
  private readonly cache = new Map<string, { at: number; record: GrantRecord | undefined }>();

  constructor(
    private readonly store: GrantStore,
    private readonly approvals: ApprovalService,
    private readonly ledger: BatchWriter,
    private readonly policy: PolicyEngine,
    private readonly config: WardenConfig,
    private readonly now: () => number,
  ) {
    approvals.onSettled((record) => this.settle(record));
  }

  async request(requester: IdentityChain, request: GrantRequest): Promise<GrantRecord> {
    if (!(request.connection in this.config.connections)) {
      throw new WardenError('UNKNOWN_CONNECTION', `no connection named "${request.connection}"; use one of: ${Object.keys(this.config.connections).join(', ') || '(none)'}`);
    }
    const max = this.config.grants.maxSeconds;
    if (request.seconds < MIN_SECONDS || request.seconds > max) throw new WardenError('INVALID_REQUEST', `a grant lasts from ${MIN_SECONDS} s to ${max} s (grants.maxSeconds); ask for less`);
    const decision = this.policy.decide({ identity: requester, action: 'grant:request', resource: { type: 'Connection', id: request.connection }, context: { role: request.role, seconds: request.seconds } });
    const time = this.iso();
    const pending: GrantRecord = {
      id: newGrantId(requester.sub),
      version: 0,
      status: 'pending',
      holder: requester.sub,
      ...(requester.act.length > 0 ? { chain: requester.chain } : {}),
      connection: request.connection,
      role: request.role,
      seconds: request.seconds,
      // Free text: masked before it is stored, recorded or shown to approvers.
      justification: maskText(request.justification, contentDetectors).text,
      requestedAt: time,
    };
    const requested = this.entry(pending, 'grant.requested', requester, { policies: decision.policies, outcome: decision.outcome });
    if (decision.outcome === 'deny') {
      const denied: GrantRecord = { ...pending, status: 'denied', endedAt: time, endReason: decision.reason };
      await this.store.create(denied);
      await this.ledger.append([requested, this.entry(denied, 'grant.denied', requester, { by: 'policy', reason: decision.reason })]);
      return denied;
    }
    if (decision.outcome === 'allow') {
      const active = this.activated(pending);
      await this.store.create(active);
      await this.ledger.append([requested, ...this.activationEntries(active, requester, { by: 'policy', policies: decision.policies })]);
      return active;
    }
    const { record: approval, entry } = await this.approvals.open({
      subject: { kind: 'grant', grantId: pending.id, role: request.role, seconds: request.seconds },
      requester,
      connection: request.connection,
      decision,
      justification: pending.justification,
    });
    const waiting: GrantRecord = { ...pending, approval: approval.id };
    await this.store.create(waiting);
    await this.ledger.append([requested, entry]);
    await this.approvals.announce(approval);
    return waiting;
  }

  async get(id: string): Promise<GrantRecord> {
    const record = await this.store.get(id);
    if (!record) throw new WardenError('UNKNOWN_GRANT', `no grant ${id}; list yours with: warden grant list`);
    return this.expireIfDue(record);
  }

  async ofHolder(holder: string): Promise<GrantRecord[]> {
    return Promise.all((await this.store.ofHolder(holder)).map((record) => this.expireIfDue(record)));
  }

  /** The grants in effect for a new session of `identity` on `connection`. */
  async activeFor(identity: IdentityChain, connection: string): Promise<GrantRecord[]> {
    const grants = await this.ofHolder(identity.sub);
    return grants.filter((grant) => grant.status === 'active' && grant.connection === connection && (grant.chain === undefined || grant.chain === identity.chain));
  }

  /** Why a grant no longer holds (expired, revoked), or undefined while it does. Reads are cached for a second. */
  private async endedReason(id: string): Promise<string | undefined> {
    const cached = this.cache.get(id);
    let record = cached && this.now() - cached.at < CACHE_MS ? cached.record : await this.store.get(id);
    if (record) record = await this.expireIfDue(record);
    this.cache.set(id, { at: this.now(), record });
    if (!record) return `grant ${id} no longer exists`;
    return record.status === 'active' ? undefined : `grant ${id} (role ${record.role}) ${record.status === 'expired' ? `expired at ${record.expiresAt}` : `was ${record.status}: ${record.endReason ?? ''}`}`;
  }

  /** Why the first of these grants that no longer holds ended, or undefined while all hold. */
  async firstEnded(ids: readonly string[]): Promise<string | undefined> {
    for (const id of ids) {
      const reason = await this.endedReason(id);
      if (reason) return reason;
    }
    return undefined;
  }

  /** The holder gives a grant up, or an approver takes it away. */
  async revoke(id: string, caller: IdentityChain, reason: string): Promise<GrantRecord> {
    for (;;) {
      const record = await this.get(id);
      const approver = caller.act.length === 0 && caller.groups.some((group) => this.config.approvals.defaultApprovers.includes(group));
      if (caller.sub !== record.holder && !approver) {
        throw new WardenError('NOT_AN_APPROVER', `only ${record.holder} or a member of ${this.config.approvals.defaultApprovers.join(', ')} may revoke grant ${id}`);
      }
      if (record.status !== 'active' && record.status !== 'pending') throw new WardenError('ALREADY_DECIDED', `grant ${id} is already ${record.status}`);
      const revoked: GrantRecord = { ...record, status: 'revoked', endedAt: this.iso(), endReason: `${reason} (by ${caller.sub})` };
      if (!(await this.store.replace(record, revoked))) continue;
      this.cache.delete(id);
      await this.ledger.append([this.entry(revoked, 'grant.revoked', caller, { reason, by: caller.sub })]);
      return revoked;
    }
  }

  /** A grant's approval was decided or expired: the grant starts, or is denied. */
  private async settle(approval: ApprovalRecord): Promise<void> {
    if (approval.subject.kind !== 'grant') return;
    const record = await this.store.get(approval.subject.grantId);
    if (!record || record.status !== 'pending') return;
    if (approval.status === 'approved') {
      const active = this.activated(record);
      if (await this.store.replace(record, active)) {
        await this.ledger.append(this.activationEntries(active, approval.requester, { by: 'approval', approval: approval.id, summary: summarize(approval) }));
      }
      return;
    }
    const denied: GrantRecord = { ...record, status: 'denied', endedAt: this.iso(), endReason: summarize(approval) };
    if (await this.store.replace(record, denied)) await this.ledger.append([this.entry(denied, 'grant.denied', approval.requester, { by: 'approval', approval: approval.id, reason: denied.endReason })]);
  }

  private activated(record: GrantRecord): GrantRecord {
    const now = this.now();
    return { ...record, status: 'active', activatedAt: new Date(now).toISOString(), expiresAt: new Date(now + record.seconds * 1000).toISOString() };
  }

  private activationEntries(active: GrantRecord, requester: IdentityChain, approvedBy: Record<string, unknown>): EntryDraft[] {
    return [this.entry(active, 'grant.approved', requester, approvedBy), this.entry(active, 'grant.activated', requester, { activatedAt: active.activatedAt, expiresAt: active.expiresAt })];
  }

  private async expireIfDue(record: GrantRecord): Promise<GrantRecord> {
    if (record.status !== 'active' || this.now() < Date.parse(record.expiresAt!)) return record;
    const expired: GrantRecord = { ...record, status: 'expired', endedAt: record.expiresAt!, endReason: 'its time ran out' };
    if (!(await this.store.replace(record, expired))) return (await this.store.get(record.id)) ?? record;
    const holder: IdentityChain = { sub: record.holder, groups: [], chain: record.chain ?? SYSTEM_SESSION, act: [] };
    await this.ledger.append([this.entry(expired, 'grant.expired', holder, { expiresAt: record.expiresAt })]);
    return expired;
  }

  private entry(grant: GrantRecord, type: EntryDraft['type'], identity: IdentityChain, data: Record<string, unknown>): EntryDraft {
    return {
      session: SYSTEM_SESSION,
      type,
      time: this.iso(),
      identity,
      connection: grant.connection,
      digest: '',
      data: { grant: grant.id, holder: grant.holder, role: grant.role, seconds: grant.seconds, justification: grant.justification, ...data },
    };
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
