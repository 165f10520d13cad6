/**
 * Cedar policy decisions with three outcomes. A request is:
 *   - allowed when Cedar allows it;
 *   - held for approval when the only policies forbidding it carry @approval("why") and,
 *     without them, Cedar would allow it;
 *   - denied otherwise, naming the deciding policies (their @reason when they have one).
 * A policy that fails to evaluate denies the request: Cedar skips an erroring policy, and a
 * skipped forbid must not become an allow (fail closed).
 */
import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { IdentityChain } from '../../core/ledger/entry.js';

export type Outcome = 'allow' | 'deny' | 'approval';

const MAX_CACHED_DECISIONS = 10_000;

/** Who must approve for one @approval policy: `quorum` people from any of `groups` ([] = the configured default). */
export interface ApprovalRequirement {
  readonly policy: string;
  readonly groups: readonly string[];
  readonly quorum: number;
}

export interface PolicyDecision {
  readonly outcome: Outcome;
  /** For an approval: what each forbidding @approval policy asks for; all must be met. */
  readonly requirements?: readonly ApprovalRequirement[];
  /** Ids of the policies that decided: the permits for an allow, the forbids for a deny or an approval. */
  readonly policies: readonly string[];
  readonly reason: string;
}

export interface PolicyRequest {
  readonly identity: IdentityChain;
  readonly action: string;
  readonly resource: { readonly type: 'Connection' | 'Host' | 'Cluster'; readonly id: string };
  readonly context: Record<string, cedar.CedarValueJson>;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(problems.length > 0 ? `${message}:\n${problems.map((p) => `  ${p}`).join('\n')}` : message);
  }
}

interface PolicyInfo {
  readonly text: string;
  readonly annotations: Readonly<Record<string, string>>;
}

export class PolicyEngine {
  /** A short content hash of the policy set, recorded with every decision. */
  readonly version: string;
  private readonly setId: string;
  private readonly setWithoutApprovalsId: string;
  private readonly decisions = new Map<string, PolicyDecision>();

  private constructor(
    private readonly policies: ReadonlyMap<string, PolicyInfo>,
    readonly text: string,
  ) {
    this.version = createHash('sha256').update(text).digest('hex').slice(0, 12);
    this.setId = `warden-${this.version}`;
    this.setWithoutApprovalsId = `warden-${this.version}-without-approvals`;
    const all = Object.fromEntries([...policies].map(([id, policy]) => [id, policy.text]));
    const withoutApprovals = Object.fromEntries([...policies].filter(([, policy]) => policy.annotations.approval === undefined).map(([id, policy]) => [id, policy.text]));
    ensure(cedar.preparsePolicySet(this.setId, { staticPolicies: all }), 'the policy set does not parse');
    ensure(cedar.preparsePolicySet(this.setWithoutApprovalsId, { staticPolicies: withoutApprovals }), 'the policy set does not parse');
  }

  /** Parses and validates a policy set against the schema; throws PolicyError naming each problem. */
  static load(policyText: string, schemaText: string): PolicyEngine {
    const parts = cedar.policySetTextToParts(policyText);
    if (parts.type === 'failure') throw new PolicyError('the policy set does not parse', parts.errors.map(describe));
    const policies = new Map<string, PolicyInfo>();
    parts.policies.forEach((text, index) => {
      const json = cedar.policyToJson(text);
      const annotations = json.type === 'success' ? ((json.json.annotations ?? {}) as Record<string, string>) : {};
      const id = annotations.id ?? `policy${index}`;
      if (policies.has(id)) throw new PolicyError(`two policies have the id "${id}"`, []);
      checkApprovalAnnotations(id, annotations);
      policies.set(id, { text, annotations });
    });
    const staticPolicies = Object.fromEntries([...policies].map(([id, policy]) => [id, policy.text]));
    const validation = cedar.validate({ schema: schemaText, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
    if (validation.type === 'failure') throw new PolicyError('the policy set cannot be validated', validation.errors.map(describe));
    if (validation.validationErrors.length > 0) {
      throw new PolicyError('the policy set does not match the Warden schema', validation.validationErrors.map((e) => `${e.policyId}: ${describe(e.error)}`));
    }
    return new PolicyEngine(policies, policyText);
  }

  get policyIds(): string[] {
    return [...this.policies.keys()];
  }

  /**
   * Decisions are a pure function of the request and this (immutable) policy set, so they are
   * memoized: an agent repeating a statement shape pays for the WASM round trip once.
   */
  decide(request: PolicyRequest): PolicyDecision {
    const { identity } = request;
    const key = JSON.stringify([identity.sub, identity.groups, identity.roles, identity.act, identity.chain, request.action, request.resource, request.context]);
    const cached = this.decisions.get(key);
    if (cached) return cached;
    const decision = this.decideUncached(request);
    if (this.decisions.size >= MAX_CACHED_DECISIONS) this.decisions.delete(this.decisions.keys().next().value!);
    this.decisions.set(key, decision);
    return decision;
  }

  private decideUncached(request: PolicyRequest): PolicyDecision {
    const first = this.evaluate(this.setId, request);
    if ('failure' in first) return { outcome: 'deny', policies: first.policies, reason: first.failure };
    if (first.decision === 'allow') return { outcome: 'allow', policies: first.reasons, reason: `allowed by ${first.reasons.join(', ')}` };
    const forbids = first.reasons;
    if (forbids.length === 0) return { outcome: 'deny', policies: [], reason: `no policy permits ${request.action} on ${request.resource.type.toLowerCase()} ${request.resource.id}` };
    const approvals = forbids.map((id) => this.policies.get(id)?.annotations.approval);
    if (approvals.every((reason) => reason !== undefined)) {
      const second = this.evaluate(this.setWithoutApprovalsId, request);
      if (!('failure' in second) && second.decision === 'allow') {
        return { outcome: 'approval', policies: forbids, reason: approvals.join('; '), requirements: forbids.map((id) => requirementOf(id, this.policies.get(id)!.annotations)) };
      }
    }
    const reasons = forbids.map((id) => this.policies.get(id)?.annotations.reason ?? this.policies.get(id)?.annotations.approval ?? `forbidden by ${id}`);
    return { outcome: 'deny', policies: forbids, reason: `${reasons.join('; ')} (policy ${forbids.join(', ')})` };
  }

  private evaluate(setId: string, request: PolicyRequest): { decision: 'allow' | 'deny'; reasons: string[] } | { failure: string; policies: string[] } {
    const { principal, entities } = principalEntities(request.identity);
    const resource = { type: `Warden::${request.resource.type}`, id: request.resource.id };
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: 'Warden::Action', id: request.action },
      resource,
      context: request.context,
      preparsedPolicySetId: setId,
      entities: [...entities, { uid: resource, attrs: request.resource.type === 'Connection' ? { kind: 'postgres' } : {}, parents: [] }],
    });
    if (answer.type === 'failure') return { failure: `the policy engine refused the request: ${answer.errors.map(describe).join('; ')}`, policies: [] };
    const { errors, reason } = answer.response.diagnostics;
    if (errors.length > 0) {
      return { failure: `policy ${errors.map((e) => `${e.policyId} failed to evaluate (${describe(e.error)})`).join('; ')}`, policies: errors.map((e) => e.policyId) };
    }
    return { decision: answer.response.decision, reasons: reason };
  }
}

/** The principal and its groups and granted roles: the innermost acting Agent, a workload's own Agent, or else the User. */
function principalEntities(identity: IdentityChain): { principal: cedar.EntityUid; entities: cedar.Entities } {
  const groups = [...identity.groups.map((group) => ({ type: 'Warden::Group', id: group })), ...(identity.roles ?? []).map((role) => ({ type: 'Warden::Role', id: role }))];
  const depth = identity.act.length;
  const actor = identity.act.at(-1);
  // A workload acting for itself is an Agent too, its own root.
  const isAgent = actor !== undefined || identity.workload === true;
  const sub = actor?.sub ?? identity.sub;
  const principal = { type: isAgent ? 'Warden::Agent' : 'Warden::User', id: sub };
  const attrs: Record<string, cedar.CedarValueJson> = { sub, chain: identity.chain, depth, ...(isAgent ? { root: identity.sub } : {}) };
  return {
    principal,
    entities: [{ uid: principal, attrs, parents: groups }, ...groups.map((uid) => ({ uid, attrs: {}, parents: [] }))],
  };
}

/** @approvers("dba security") names the groups that may approve; @quorum("2") how many must. */
function requirementOf(policy: string, annotations: Readonly<Record<string, string>>): ApprovalRequirement {
  return { policy, groups: (annotations.approvers ?? '').split(/[\s,]+/).filter(Boolean), quorum: Number(annotations.quorum ?? '1') };
}

function checkApprovalAnnotations(id: string, annotations: Readonly<Record<string, string>>): void {
  const { approval, approvers, quorum } = annotations;
  if (approval === undefined && (approvers !== undefined || quorum !== undefined)) {
    throw new PolicyError(`policy "${id}" has @approvers or @quorum but no @approval("why")`, []);
  }
  if (quorum !== undefined && !/^[1-9][0-9]?$/.test(quorum)) throw new PolicyError(`policy "${id}": @quorum must be a whole number from 1 to 99, not "${quorum}"`, []);
}

function ensure(answer: cedar.CheckParseAnswer, message: string): void {
  if (answer.type === 'failure') throw new PolicyError(message, answer.errors.map(describe));
}

function describe(error: cedar.DetailedError): string {
  return error.help ? `${error.message} (${error.help})` : error.message;
}
