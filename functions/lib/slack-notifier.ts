/** Posts approval requests to the Slack incoming webhook, and their outcomes back to the message. */
import type { ApprovalRecord } from './approval-store.js';
import type { ApprovalNotifier } from './approvals.js';
import { approvalRequestMessage, decisionMessage, postToSlack, type ApprovalMessageInput } from './slack.js';

export interface SlackSettings {
  /** The incoming webhook: a secret URL, never logged. */
  readonly webhookUrl: string;
  readonly signingSecret: string;
  readonly responseUrlPrefix: string;
  /** Slack user id → the Warden identity that approves when that user clicks. */
  readonly users: Readonly<Record<string, { readonly sub: string; readonly groups: readonly string[] }>>;
}

export class SlackNotifier implements ApprovalNotifier {
  constructor(
    private readonly settings: SlackSettings,
    private readonly urlOf: (id: string) => string,
    private readonly log: (event: Record<string, unknown>) => void,
  ) {}

  async opened(record: ApprovalRecord): Promise<void> {
    await this.post(this.settings.webhookUrl, approvalRequestMessage(this.input(record)), record);
  }

  /** The message can only be updated once someone clicked in it: Slack gives the response URL then. */
  async changed(record: ApprovalRecord): Promise<void> {
    if (!record.slackResponseUrl) return;
    const status = record.status === 'used' ? 'approved' : record.status;
    const decisions = record.decisions.map(({ approver, decision, reason, at }) => ({ approver, decision, reason, at }));
    await this.post(record.slackResponseUrl, decisionMessage(this.input(record), { status, decisions }), record);
  }

  private async post(url: string, message: object, record: ApprovalRecord): Promise<void> {
    try {
      await postToSlack(url, message);
    } catch (error) {
      // Slack being away never blocks a decision: the CLI and the API still work.
      this.log({ event: 'slack-post-failed', approval: record.id, error: (error as Error).message });
    }
  }

  private input(record: ApprovalRecord): ApprovalMessageInput {
    const { subject } = record;
    return {
      id: record.id,
      requester: { sub: record.requester.sub, actors: record.requester.act.map((actor) => actor.sub), chain: record.requester.chain },
      connection: record.connection,
      command: subject.kind === 'command' ? subject.text : `grant of role ${subject.role} for ${Math.round(subject.seconds / 60)} min`,
      policyReason: record.policyReason,
      ...(record.justification ? { justification: record.justification } : {}),
      approversNeeded: Math.max(...record.requirements.map((requirement) => requirement.quorum), 1),
      approverGroups: [...new Set(record.requirements.flatMap((requirement) => requirement.groups))],
      expiresAt: record.expiresAt,
      url: this.urlOf(record.id),
    };
  }
}
