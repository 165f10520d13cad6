/**
 * What a protocol does with a command policy holds for approval: tell the client at once
 * (a NoticeResponse, a line on stderr), wait for the decision, then ask again with the
 * approval (the command runs once on it) or refuse with the approver's reason.
 */
import type { CommandDecision } from '../core/contract.js';
import type { ApprovalWaiter } from './approval-waiter.js';

export interface HeldCommand {
  readonly id: string;
  readonly url: string;
  readonly expiresAt: string;
  readonly reason: string;
}

/** The refusal when the wait was cancelled (the client's cancel, or the session closing). */
export const CANCELED = 'CANCELED';

export async function settleHeld(
  decision: CommandDecision,
  waiter: ApprovalWaiter,
  signal: AbortSignal,
  announce: (held: HeldCommand) => void,
  askAgain: (approvalId: string) => Promise<CommandDecision>,
): Promise<CommandDecision> {
  if (decision.decision !== 'approval' || !decision.approval) return decision;
  const { id, url, expiresAt } = decision.approval;
  announce({ id, url, expiresAt, reason: decision.reason ?? 'policy asks for approval' });
  const outcome = await waiter.wait(id, signal);
  const refuse = (reason: string, error?: string): CommandDecision => ({ ...decision, decision: 'deny', reason, ...(error ? { error } : {}) });
  if (!outcome) return refuse(`canceled while waiting for approval ${id}`, CANCELED);
  if (outcome.status !== 'approved') return refuse(`approval ${id}: ${outcome.summary}`);
  return askAgain(id);
}
