/**
 * A well-behaved ssh2 connection through the SSH gateway, kept open through an attack: it runs
 * one numbered exec per round and remembers each, so a test can prove the connection kept
 * working and that every exec reached the ledger.
 */
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import type { LedgerEntry } from '../../../core/ledger/entry.js';
import { unrecorded } from './hostile-steady-session.js';

export class SteadySshSession {
  private readonly markers: string[] = [];

  private constructor(private readonly client: ssh2.Client) {}

  static async open(port: number, connection: string, token: string): Promise<SteadySshSession> {
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject);
      client.connect({ host: '127.0.0.1', port, username: connection, password: token, hostVerifier: () => true, readyTimeout: 20_000 });
    });
    return new SteadySshSession(client);
  }

  /** Runs the next numbered exec and checks its output; `when` names the round in a failure. */
  async round(when: string): Promise<void> {
    const marker = `steady_${this.markers.length}`;
    const output = await new Promise<string>((resolve, reject) => {
      this.client.exec(`echo ${marker}`, (error, stream) => {
        if (error) return reject(error);
        let text = '';
        stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
        stream.stderr.resume();
        stream.on('close', () => resolve(text));
      });
    });
    assert.equal(output.trim(), marker, `the well-behaved SSH session answered wrongly ${when}`);
    this.markers.push(marker);
  }

  get rounds(): number {
    return this.markers.length;
  }

  /** The markers of execs with no allowed `command` entry among `entries`. */
  missingFrom(entries: readonly LedgerEntry[]): string[] {
    return unrecorded(this.markers, entries);
  }

  end(): void {
    this.client.end();
  }
}
