/**
 * Resolves a result column's table OID and attribute number (from RowDescription) to its
 * schema, table and column names, for column masking rules. One catalog connection per
 * target, opened on first need with the gateway's credential, shared by every session;
 * answers are cached. The queries read pg_catalog only and are not client commands, so they
 * are not authorized or recorded.
 */
import type { ColumnIdentity } from '../../core/masking/column-rules.js';
import { dataRowValues, serialize, type BackendMessage } from './protocol/index.js';
import { BackendCode } from './protocol/codes.js';
import { openUpstream, type Upstream, type UpstreamTarget } from './upstream.js';

export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

export class Catalog {
  private readonly tables = new Map<number, Map<number, ColumnIdentity>>();
  private connection: Promise<Upstream> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly target: UpstreamTarget) {}

  lookup(tableOid: number, attributeNumber: number): ColumnIdentity | undefined {
    return this.tables.get(tableOid)?.get(attributeNumber);
  }

  /** The table OIDs among these that are not cached yet. */
  unknown(tableOids: Iterable<number>): number[] {
    return [...new Set(tableOids)].filter((oid) => oid !== 0 && !this.tables.has(oid));
  }

  /** Loads the columns of these tables; concurrent callers share one connection, one query at a time. */
  load(tableOids: readonly number[]): Promise<void> {
    const next = this.queue.then(() => this.query(this.unknown(tableOids)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    void this.connection?.then((upstream) => upstream.socket.destroy(), () => undefined);
  }

  private async query(tableOids: readonly number[]): Promise<void> {
    if (tableOids.length === 0) return;
    const upstream = await this.open();
    // OIDs are integers from the server's own RowDescription: safe to inline.
    const sql = `SELECT a.attrelid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE a.attrelid IN (${tableOids.map((oid) => Math.trunc(oid)).join(',')}) AND a.attnum > 0`;
    const rows = await this.exchange(upstream, sql);
    for (const oid of tableOids) this.tables.set(oid, new Map());
    for (const [relid, schema, table, attnum, column] of rows) {
      this.tables.get(Number(relid))?.set(Number(attnum), { schema: schema!, table: table!, column: column! });
    }
  }

  private open(): Promise<Upstream> {
    this.connection ??= openUpstream(this.target, { application_name: 'warden-catalog' }).catch((error: unknown) => {
      this.connection = undefined;
      throw new CatalogError(`cannot open a catalog connection: ${(error as Error).message}`);
    });
    return this.connection;
  }

  private exchange(upstream: Upstream, sql: string): Promise<string[][]> {
    return new Promise((resolve, reject) => {
      const rows: string[][] = [];
      let failure: string | undefined;
      const onMessage = (message: BackendMessage) => {
        if (message.name === 'other' && message.code === BackendCode.dataRow) rows.push(dataRowValues(message.raw).map((value) => value?.toString('utf8') ?? ''));
        if (message.name === 'errorResponse') failure = message.fields.M ?? 'catalog query failed';
        if (message.name === 'readyForQuery') {
          upstream.socket.off('data', onData);
          upstream.socket.off('close', onClose);
          if (failure) reject(new CatalogError(failure));
          else resolve(rows);
        }
      };
      const onData = (chunk: Buffer) => {
        try {
          for (const message of upstream.parser.push(chunk)) onMessage(message);
        } catch (error) {
          reject(error);
        }
      };
      const onClose = () => {
        this.connection = undefined;
        reject(new CatalogError('the catalog connection closed'));
      };
      upstream.socket.on('data', onData);
      upstream.socket.once('close', onClose);
      upstream.socket.write(serialize.query(sql));
    });
  }
}
