/**
 * The approvals table. A request changes by whole-record replacement conditioned on its
 * version, so two approvers deciding at once cannot both win: the second write fails its
 * condition, rereads, and sees the request already decided.
 */
import { GetItemCommand, paginateScan, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ApprovalStatus } from '../../core/contract.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { ApprovalRequirement } from './policy-engine.js';
import { storeCall } from './store-errors.js';
import { putIfVersion, readRecords } from './versioned-put.js';
import { tableNames } from './tables.js';

export type DecisionChannel = 'slack' | 'cli' | 'api';

export interface ApproverDecision {
  readonly approver: string;
  readonly groups: readonly string[];
  readonly decision: 'approve' | 'deny';
  readonly reason: string;
  readonly at: string;
  readonly via: DecisionChannel;
}

/** What waits: a held command of a session, or a request for a just-in-time grant. */
export type ApprovalSubject =
  | { readonly kind: 'command'; readonly sessionId: string; readonly commandId: number; readonly text: string; readonly digest: string }
  | { readonly kind: 'grant'; readonly grantId: string; readonly role: string; readonly seconds: number };

export interface ApprovalRecord {
  readonly id: string;
  readonly version: number;
  readonly status: ApprovalStatus;
  readonly subject: ApprovalSubject;
  readonly requester: IdentityChain;
  readonly connection: string;
  /** The policies that asked for approval, and their reasons. */
  readonly policies: readonly string[];
  readonly policyReason: string;
  readonly requirements: readonly ApprovalRequirement[];
  readonly justification?: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly decisions: readonly ApproverDecision[];
  /** The latest Slack response URL for this request, to update its message. */
  readonly slackResponseUrl?: string;
}

export class ApprovalStore {
  private readonly table: string;

  constructor(
    private readonly client: DynamoDBClient,
    prefix: string,
  ) {
    this.table = tableNames(prefix).approvals;
  }

  async create(record: ApprovalRecord): Promise<void> {
    await storeCall(() =>
      this.client.send(new PutItemCommand({ TableName: this.table, Item: this.item(record), ConditionExpression: 'attribute_not_exists(id)' })),
    );
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const result = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.table, Key: { id: { S: id } }, ConsistentRead: true })));
    const text = result.Item?.record?.S;
    return text === undefined ? undefined : (JSON.parse(text) as ApprovalRecord);
  }

  /** Replaces `previous` with `next` unless someone changed it first; false when they did. */
  async replace(previous: ApprovalRecord, next: ApprovalRecord): Promise<boolean> {
    return putIfVersion(this.client, this.table, this.item({ ...next, version: previous.version + 1 }), previous.version);
  }

  /** Requests in one status. A scan: the table holds requests of the last days, not history (that is the ledger). */
  async list(status: ApprovalStatus): Promise<ApprovalRecord[]> {
    const records = await readRecords<ApprovalRecord>(
      paginateScan(
        { client: this.client },
        { TableName: this.table, FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':status': { S: status } }, ConsistentRead: true },
      ),
    );
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Every request in the table, oldest first (for evidence export). */
  async all(): Promise<ApprovalRecord[]> {
    const records = await readRecords<ApprovalRecord>(paginateScan({ client: this.client }, { TableName: this.table, ConsistentRead: true }));
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private item(record: ApprovalRecord) {
    return { id: { S: record.id }, version: { N: String(record.version) }, status: { S: record.status }, record: { S: JSON.stringify(record) } };
  }
}
