/**
 * The approval workflow: open a request when policy says a person must agree, take each
 * approver's decision under the rules, expire what nobody decided, and let a held command
 * run once on the approval it got.
 *
 * Rules for an approver:
 *   - a person with their own token: not an agent, not a workload, no actor chain;
 *   - nobody in the requester's chain (its root or any acting agent);
 *   - a member of a group some requirement names, deciding at most once;
 * a request is approved when every requirement has its quorum, denied on the first deny.
 */
import { randomBytes } from 'node:crypto';
import type { WardenConfig } from '../../core/config.js';
import type { ApprovalStatus } from '../../core/contract.js';
import { WardenError } from '../../core/errors.js';
import { SYSTEM_SESSION, type EntryDraft, type IdentityChain } from '../../core/ledger/entry.js';
import type { ApprovalRecord, ApprovalStore, ApprovalSubject, DecisionChannel } from './approval-store.js';
import type { BatchWriter } from './batch-writer.js';
import type { ApprovalRequirement, PolicyDecision } from './policy-engine.js';

/** A decided, expired or used request can change no more. */
const FINAL: readonly ApprovalStatus[] = ['approved', 'denied', 'expired', 'used'];
const MAX_ATTEMPTS = 5;

export interface Approver {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly act: readonly { readonly sub: string }[];
  readonly workload?: boolean;
}

export interface OpenRequest {
  readonly subject: ApprovalSubject;
  readonly requester: IdentityChain;
  readonly connection: string;
  readonly decision: PolicyDecision;
  readonly justification?: string | undefined;
}

/** Called after each change, for the reviewers' inbox (Slack); failures there never undo a decision. */
export interface ApprovalNotifier {
  opened(record: ApprovalRecord): Promise<void>;
  changed(record: ApprovalRecord): Promise<void>;
}

export class ApprovalService {
  private readonly settledListeners: ((record: ApprovalRecord) => Promise<void>)[] = [];

  constructor(
    private readonly store: ApprovalStore,
    private readonly ledger: BatchWriter,
    private readonly config: WardenConfig,
    private readonly publicUrl: () => string,
    private readonly now: () => number,
    private readonly notifier?: ApprovalNotifier,
  ) {}

  /** Called when a request is approved, denied or expires (a grant waits on its approval this way). */
  onSettled(listener: (record: ApprovalRecord) => Promise<void>): void {
    this.settledListeners.push(listener);
  }

  urlOf(id: string): string {
    return `${this.publicUrl()}/v1/approvals/${id}`;
  }

  /**
   * Stores a new pending request and returns it with its `approval.requested` entry, which the
   * caller appends together with its own entries (one durable write), then calls `announce`.
   */
  async open(request: OpenRequest): Promise<{ record: ApprovalRecord; entry: EntryDraft }> {
    const created = this.now();
    const requirements = (request.decision.requirements ?? []).map((requirement): ApprovalRequirement => ({
      ...requirement,
      groups: requirement.groups.length > 0 ? requirement.groups : this.config.approvals.defaultApprovers,
    }));
    const record: ApprovalRecord = {
      id: `apr_${randomBytes(9).toString('base64url')}`,
      version: 0,
      status: 'pending',
      subject: request.subject,
      requester: request.requester,
      connection: request.connection,
      policies: request.decision.policies,
      policyReason: request.decision.reason,
      requirements,
      ...(request.justification ? { justification: request.justification } : {}),
      createdAt: new Date(created).toISOString(),
      expiresAt: new Date(created + this.config.approvals.ttlSeconds * 1000).toISOString(),
      decisions: [],
    };
    await this.store.create(record);
    return { record, entry: this.entry(record, 'approval.requested', { requirements, policies: record.policies, reason: record.policyReason, justification: record.justification ?? null, expiresAt: record.expiresAt, url: this.urlOf(record.id) }) };
  }

  async announce(record: ApprovalRecord): Promise<void> {
    await this.notifier?.opened(record).catch(() => undefined);
  }

  async get(id: string): Promise<ApprovalRecord> {
    const record = await this.store.get(id);
    if (!record) throw new WardenError('UNKNOWN_APPROVAL', `no approval request ${id}; list pending ones with: warden approvals`);
    return this.expireIfDue(record);
  }

  async pending(): Promise<ApprovalRecord[]> {
    const records = await this.store.list('pending');
    return Promise.all(records.map((record) => this.expireIfDue(record)));
  }

  /** The status of each request, expiring the ones past due (the proxy polls this). */
  async statuses(ids: readonly string[]): Promise<{ id: string; status: ApprovalStatus | 'unknown'; summary: string }[]> {
    return Promise.all(
      ids.map(async (id) => {
        const found = await this.store.get(id);
        if (!found) return { id, status: 'unknown' as const, summary: 'no such approval request' };
        const record = await this.expireIfDue(found);
        return { id, status: record.status, summary: summarize(record) };
      }),
    );
  }

  /** One approver's decision. Returns the request as it stands after it. */
  async decide(id: string, approver: Approver, decision: 'approve' | 'deny', reason: string, via: DecisionChannel, slackResponseUrl?: string): Promise<ApprovalRecord> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.get(id);
      if (record.status === 'expired') throw new WardenError('APPROVAL_EXPIRED', `approval request ${id} expired at ${record.expiresAt}; it was denied`);
      if (FINAL.includes(record.status)) throw new WardenError('ALREADY_DECIDED', `approval request ${id} is already ${record.status}: ${summarize(record)}`);
      checkApprover(record, approver);
      const at = new Date(this.now()).toISOString();
      const decisions = [...record.decisions, { approver: approver.sub, groups: approver.groups, decision, reason, at, via }];
      const next: ApprovalRecord = {
        ...record,
        decisions,
        status: decision === 'deny' ? 'denied' : record.requirements.every((requirement) => met(requirement, decisions)) ? 'approved' : 'pending',
        ...(slackResponseUrl ? { slackResponseUrl } : {}),
      };
      if (!(await this.store.replace(record, next))) continue;
      await this.ledger.append([this.entry(next, 'approval.decided', { approver: { sub: approver.sub, groups: approver.groups }, decision, reason, via, status: next.status })]);
      await this.settled(next);
      return next;
    }
    throw new WardenError('ALREADY_DECIDED', `approval request ${id} kept changing while this decision was made; look at it again`);
  }

  /**
   * Spends an approved request on the command it was for: same session, same statement and
   * values (by keyed digest). An approval runs its command once.
   */
  async use(id: string, sessionId: string, digest: string): Promise<ApprovalRecord> {
    const record = await this.get(id);
    const { subject } = record;
    if (subject.kind !== 'command' || subject.sessionId !== sessionId || subject.digest !== digest) {
      throw new WardenError('UNKNOWN_APPROVAL', `approval request ${id} was not given for this command in this session`);
    }
    if (record.status !== 'approved') throw new WardenError('ALREADY_DECIDED', `approval request ${id} is ${record.status}, not approved: ${summarize(record)}`);
    if (!(await this.store.replace(record, { ...record, status: 'used' }))) throw new WardenError('ALREADY_DECIDED', `approval request ${id} was used already`);
    return record;
  }

  private async expireIfDue(record: ApprovalRecord): Promise<ApprovalRecord> {
    if (record.status !== 'pending' || this.now() < Date.parse(record.expiresAt)) return record;
    const expired: ApprovalRecord = { ...record, status: 'expired' };
    // Whoever wins the write records the expiry; a loser rereads what the winner wrote.
    if (!(await this.store.replace(record, expired))) return (await this.store.get(record.id)) ?? record;
    await this.ledger.append([this.entry(expired, 'approval.expired', { expiresAt: record.expiresAt, approvals: record.decisions.length })]);
    await this.settled(expired);
    return expired;
  }

  private async settled(record: ApprovalRecord): Promise<void> {
    await this.notifier?.changed(record).catch(() => undefined);
    if (record.status === 'pending') return;
    for (const listener of this.settledListeners) await listener(record);
  }

  private entry(record: ApprovalRecord, type: EntryDraft['type'], data: Record<string, unknown>): EntryDraft {
    const { subject } = record;
    return {
      session: subject.kind === 'command' ? subject.sessionId : SYSTEM_SESSION,
      type,
      time: new Date(this.now()).toISOString(),
      identity: record.requester,
      connection: record.connection,
      digest: subject.kind === 'command' ? subject.digest : '',
      data: {
        approval: record.id,
        subject: subject.kind === 'command' ? { kind: 'command', commandId: subject.commandId, text: subject.text } : { kind: 'grant', grant: subject.grantId, role: subject.role, seconds: subject.seconds },
        ...data,
      },
    };
  }
}

function checkApprover(record: ApprovalRecord, approver: Approver): void {
  if (approver.act.length > 0 || approver.workload) {
    throw new WardenError('NOT_AN_APPROVER', 'approvals are given by people with their own token, not by agents or workloads; sign in with warden login --device');
  }
  const chain = [record.requester.sub, ...record.requester.act.map((actor) => actor.sub)];
  if (chain.includes(approver.sub)) {
    throw new WardenError('NOT_AN_APPROVER', `${approver.sub} is in the requester's chain (${chain.join(' ← ')}) and cannot approve this request; ask another approver`);
  }
  if (record.decisions.some((decision) => decision.approver === approver.sub)) {
    throw new WardenError('ALREADY_DECIDED', `${approver.sub} has already decided on approval request ${record.id}; it needs someone else`);
  }
  const groups = [...new Set(record.requirements.flatMap((requirement) => requirement.groups))];
  if (!groups.some((group) => approver.groups.includes(group))) {
    throw new WardenError('NOT_AN_APPROVER', `${approver.sub} is not in an approver group for this request (${groups.join(', ')})`);
  }
}

function met(requirement: ApprovalRequirement, decisions: ApprovalRecord['decisions']): boolean {
  const approvers = decisions.filter((d) => d.decision === 'approve' && d.groups.some((group) => requirement.groups.includes(group)));
  return approvers.length >= requirement.quorum;
}

/** One line on where a request stands, for notices, errors and the CLI. */
export function summarize(record: ApprovalRecord): string {
  const last = record.decisions.at(-1);
  switch (record.status) {
    case 'approved':
    case 'used':
      return `approved by ${record.decisions.filter((d) => d.decision === 'approve').map((d) => `${d.approver} (${d.reason})`).join(', ')}`;
    case 'denied':
      return `denied by ${last?.approver ?? 'an approver'}: ${last?.reason ?? ''}`;
    case 'expired':
      return `nobody decided before ${record.expiresAt}, so it expired`;
    case 'pending': {
      const needed = record.requirements.map((r) => `${r.quorum} from ${r.groups.join('/')}`).join(' and ');
      const given = record.decisions.map((d) => d.approver);
      return `waiting for ${needed}${given.length > 0 ? `; approved so far by ${given.join(', ')}` : ''}`;
    }
  }
}
