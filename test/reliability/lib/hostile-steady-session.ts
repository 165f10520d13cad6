/**
 * A well-behaved node-postgres session kept open through an attack: it runs one numbered
 * statement per round and remembers each, so a test can prove the session kept working and
 * that every statement it ran reached the ledger.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import type { LedgerEntry } from '../../../core/ledger/entry.js';

export class SteadySession {
  private readonly markers: string[] = [];

  private constructor(private readonly client: pg.Client) {}

  static async open(port: number, token: string, database = 'app'): Promise<SteadySession> {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'steady', database, password: token, connectionTimeoutMillis: 10_000 });
    await client.connect();
    return new SteadySession(client);
  }

  /** Runs the next numbered statement and checks its answer; `when` names the round in a failure. */
  async round(when: string): Promise<void> {
    const n = this.markers.length;
    const marker = `steady_${n}`;
    const result = await this.client.query(`SELECT ${n} AS ${marker}`);
    assert.equal(result.rows[0]?.[marker], n, `the well-behaved session answered wrongly ${when}`);
    this.markers.push(marker);
  }

  get rounds(): number {
    return this.markers.length;
  }

  /** The markers of statements with no allowed `command` entry among `entries`. */
  missingFrom(entries: readonly LedgerEntry[]): string[] {
    return unrecorded(this.markers, entries);
  }

  end(): Promise<void> {
    return this.client.end();
  }
}

/** The markers that appear, as a whole word, in no allowed `command` entry among `entries`. */
export function unrecorded(markers: readonly string[], entries: readonly LedgerEntry[]): string[] {
  const recorded = entries.filter((entry) => entry.type === 'command' && entry.data.decision === 'allow').map((entry) => String(entry.data.text));
  return markers.filter((marker) => !recorded.some((text) => new RegExp(`\\b${marker}\\b`).test(text)));
}
