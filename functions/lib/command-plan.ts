/**
 * A command as /v1/authorize plans it before anything is written: one verdict and one
 * ledger entry (data) per statement, the denial that stops the whole command, or the
 * approval that holds it. SQL, SSH and Kubernetes commands are planned by their own modules into this.
 */
import type { AuthorizeCommand } from '../../core/contract.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import type { Outcome, PolicyDecision } from './policy-engine.js';

/** Recorded text is capped; the keyed digest still covers all of it. */
const MAX_RECORDED_TEXT = 8192;

/** A statement as planned: its outcome (approval included), why, and which policies decided. */
export interface Verdict {
  readonly outcome: Outcome;
  readonly reason: string;
  readonly policies: readonly string[];
}

export interface PlannedStatement {
  readonly verdict: Verdict;
  readonly data: Record<string, unknown>;
  /** What the keyed digest covers. */
  readonly raw: string;
}

export interface PlannedCommand {
  readonly command: AuthorizeCommand;
  readonly statements: readonly PlannedStatement[];
  readonly denial: string | undefined;
  /** Policy holds the command for approval (and nothing in it is denied): the statements' approvals merged. */
  readonly held?: PolicyDecision;
  /** The whole command, masked, as approvers see it. */
  readonly maskedText?: string;
}

/** The fields every command entry starts with. */
export function commonData(command: AuthorizeCommand, policyVersion: string): Record<string, unknown> {
  return { commandId: command.commandId, kind: command.kind, policyVersion };
}

/** The whole command refused before its text is decided (expired token, ended grant, unparsable). */
export function refusedWhole(command: AuthorizeCommand, policyVersion: string, reason: string, rule: string): PlannedCommand {
  return {
    command,
    denial: reason,
    statements: [
      { verdict: { outcome: 'deny', reason, policies: [rule] }, raw: command.text, data: { ...commonData(command, policyVersion), statement: 0, statements: 1, text: '[withheld: not parsed]', decision: 'deny', policies: [rule], reason } },
    ],
  };
}

/**
 * A command decided whole, as one statement (SSH, Kubernetes), when the decision applies: a deny
 * refuses the command, an approval holds it. `facts` join the entry's data; `text` is the command
 * as recorded, masked.
 */
export function enforced(command: AuthorizeCommand, policyVersion: string, decision: PolicyDecision, facts: Record<string, unknown>, text?: string): PlannedCommand {
  const planned = recorded(command, policyVersion, decision, facts, text);
  if (decision.outcome === 'deny') return { ...planned, denial: decision.reason };
  const held = mergedApproval([decision]);
  return held ? { ...planned, held, maskedText: String(planned.statements[0]!.data.text) } : planned;
}

/** A command decided whole, as one statement, when the decision is only recorded: nothing is refused or held by it. */
export function recorded(command: AuthorizeCommand, policyVersion: string, decision: PolicyDecision, facts: Record<string, unknown>, text = capped(maskText(command.text, contentDetectors).text)): PlannedCommand {
  return {
    command,
    denial: undefined,
    statements: [
      {
        verdict: decision,
        raw: command.text,
        data: {
          ...commonData(command, policyVersion),
          statement: 0,
          statements: 1,
          ...facts,
          text,
          decision: decision.outcome,
          policies: decision.policies,
          ...(decision.outcome === 'allow' ? {} : { reason: decision.reason }),
        },
      },
    ],
  };
}

/** The approval that holds a command: every @approval policy that matched any of its statements. */
export function mergedApproval(decisions: readonly PolicyDecision[]): PolicyDecision | undefined {
  const approvals = decisions.filter((d) => d.outcome === 'approval');
  if (approvals.length === 0) return undefined;
  return {
    outcome: 'approval',
    reason: [...new Set(approvals.map((d) => d.reason))].join('; '),
    policies: [...new Set(approvals.flatMap((d) => d.policies))],
    requirements: [...new Map(approvals.flatMap((d) => d.requirements ?? []).map((r) => [r.policy, r])).values()],
  };
}

export function capped(text: string): string {
  return text.length <= MAX_RECORDED_TEXT ? text : `${text.slice(0, MAX_RECORDED_TEXT)}…[${text.length - MAX_RECORDED_TEXT} more characters; see digest]`;
}
