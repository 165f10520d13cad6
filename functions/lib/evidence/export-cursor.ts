/**
 * Where scheduled export stands: the named item `export-cursor` in the log table. It moves
 * in two steps, each a conditional write on the version read, so runners racing (Lambda
 * retries, two `warden up` on one store) agree on every window:
 *   1. claim: `pending` names the next window, starting where the last one ended;
 *   2. commit, once its bundle is written: `exportedTo` moves to the window's end, `pending` goes.
 * A claimed window is the same window for whoever finishes it, so its bundle has one name, and
 * the target refuses a second copy; windows never overlap and never leave a gap.
 */
import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeCall, storeUnavailable } from '../store-errors.js';
import { tableNames } from '../tables.js';

export const EXPORT_CURSOR_ITEM = 'export-cursor';

/** A window of time, `from` included, `to` excluded (ISO 8601). */
export interface CursorWindow {
  readonly from: string;
  readonly to: string;
}

export interface ExportCursor {
  /** 0 when no cursor is stored yet. */
  readonly version: number;
  /** The end of the last exported window: the next one starts here. */
  readonly exportedTo?: string;
  /** A window claimed but not committed: its bundle may or may not be written yet. */
  readonly pending?: CursorWindow;
}

export class ExportCursorStore {
  private readonly table: string;

  constructor(
    private readonly client: DynamoDBClient,
    tablePrefix: string,
  ) {
    this.table = tableNames(tablePrefix).log;
  }

  async read(): Promise<ExportCursor> {
    const { Item: item } = await storeCall(() => this.client.send(new GetItemCommand({ TableName: this.table, Key: { name: { S: EXPORT_CURSOR_ITEM } }, ConsistentRead: true })));
    if (!item) return { version: 0 };
    const pending = item.pendingFrom?.S && item.pendingTo?.S ? { from: item.pendingFrom.S, to: item.pendingTo.S } : undefined;
    return { version: Number(item.version?.N), ...(item.exportedTo?.S ? { exportedTo: item.exportedTo.S } : {}), ...(pending ? { pending } : {}) };
  }

  /** Replaces `previous` with `next`; false when another runner moved the cursor first. */
  async replace(previous: ExportCursor, next: Omit<ExportCursor, 'version'>): Promise<boolean> {
    const item: Record<string, AttributeValue> = { name: { S: EXPORT_CURSOR_ITEM }, version: { N: String(previous.version + 1) } };
    if (next.exportedTo) item.exportedTo = { S: next.exportedTo };
    if (next.pending) Object.assign(item, { pendingFrom: { S: next.pending.from }, pendingTo: { S: next.pending.to } });
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ...(previous.version === 0
            ? { ConditionExpression: 'attribute_not_exists(#name)', ExpressionAttributeNames: { '#name': 'name' } }
            : { ConditionExpression: '#version = :version', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':version': { N: String(previous.version) } } }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw storeUnavailable(error);
    }
  }
}
