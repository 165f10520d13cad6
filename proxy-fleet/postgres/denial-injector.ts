/**
 * Denials travel through the server, so the server's transaction state is what PostgreSQL's
 * own error would leave: inside BEGIN the transaction is aborted ('E'), a multi-statement
 * query runs nothing, and in the extended protocol the server skips to Sync. The client and
 * the server always agree, and replies stay in protocol order.
 *
 * In place of a denied message the proxy sends SQL that cannot parse and names a one-time
 * marker; the server's syntax error echoes the marker, and that one ErrorResponse is
 * replaced by Warden's 42501 before it reaches the client:
 *
 *   client: Parse Bind Execute(denied) Sync      server sees: Parse Bind Parse("warden_denied_…") Sync
 *   client gets: ParseComplete BindComplete ErrorResponse(42501, Warden's) ReadyForQuery
 *
 * If the server was already failing (an earlier error in the same pipeline, or an aborted
 * transaction), it ignores the injected message as it would have ignored the denied one, and
 * the client sees the server's own error, exactly as without Warden. A marker whose cycle
 * has ended is forgotten.
 */
import { randomBytes } from 'node:crypto';
import { serialize, type BackendMessage } from './protocol/index.js';

export class DenialInjector {
  /** Query, Sync and FunctionCall end a cycle: the server answers each with one ReadyForQuery. */
  private cyclesForwarded = 0;
  private cyclesCompleted = 0;
  private readonly pending = new Map<string, { cycle: number; error: Buffer }>();

  constructor(private readonly write: (chunk: Buffer) => void) {}

  /** Call for every message forwarded upstream that ends a cycle. */
  cycleEnded(): void {
    this.cyclesForwarded += 1;
  }

  /** The Query to send instead of a denied Query or FunctionCall (it ends a cycle). */
  deniedQuery(error: Buffer): Buffer {
    const marker = this.expect(error);
    this.cycleEnded();
    return serialize.query(marker);
  }

  /** The Parse to send instead of a denied Execute; the client's own Sync ends the cycle. */
  deniedExecute(error: Buffer): Buffer {
    const marker = this.expect(error);
    return serialize.parse(marker, marker, []);
  }

  /** `bytes` is what to send for the message (its masked form); the marker is read from the parsed fields. */
  fromServer(message: BackendMessage, bytes: Buffer = message.raw): void {
    if (message.name === 'errorResponse') {
      const text = message.fields.M ?? '';
      for (const [marker, { error }] of this.pending) {
        if (text.includes(marker)) {
          this.pending.delete(marker);
          this.write(error);
          return;
        }
      }
    } else if (message.name === 'readyForQuery') {
      this.cyclesCompleted += 1;
      for (const [marker, { cycle }] of this.pending) if (cycle <= this.cyclesCompleted) this.pending.delete(marker);
    }
    this.write(bytes);
  }

  private expect(error: Buffer): string {
    const marker = `warden_denied_${randomBytes(8).toString('hex')}`;
    this.pending.set(marker, { cycle: this.cyclesForwarded + 1, error });
    return marker;
  }
}
