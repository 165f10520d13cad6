/**
 * Attributes each server message to the client message it answers, so the proxy knows the
 * row shape of every DataRow (an Execute brings none of its own: protocol docs, "Extended
 * Query") and when each authorized command has finished.
 *
 * Forwarded messages queue an expectation; server replies consume them in order:
 *   Parse → '1'   Bind → '2'   Close → '3'   Describe S → 't' then 'T' | 'n'   Describe P → 'T' | 'n'
 *   Execute → 'D'… then 'C' | 'I' | 's' | 'E'   Query → any number of 'T' 'D' 'C' …, then 'Z'
 *   Sync → 'Z'   FunctionCall → 'V'? then 'Z'
 * After an ErrorResponse in the extended protocol the server skips to Sync, and so do the
 * expectations.
 */
import { BackendCode } from './protocol/codes.js';
import { decodeRowDescription, type BackendMessage, type ColumnDescription } from './protocol/index.js';

export type RowShape = readonly ColumnDescription[];

type Expectation =
  | { readonly kind: 'query'; readonly commandId?: number }
  | { readonly kind: 'parse' | 'bind' | 'close' | 'sync' | 'other' }
  | { readonly kind: 'describe-statement'; readonly statement: string }
  | { readonly kind: 'describe-portal'; readonly portal: string }
  | { readonly kind: 'execute'; readonly portal: string; readonly commandId?: number };

export interface CommandOutcome {
  readonly commandId: number;
  readonly rows: number;
  /** The SQLSTATE if the command failed. */
  readonly error?: string;
}

export class ResultTracker {
  private readonly expected: Expectation[] = [];
  private readonly statementShapes = new Map<string, RowShape | null>();
  private readonly portalShapes = new Map<string, RowShape | null>();
  private queryShape: RowShape | null = null;
  private rows = 0;

  constructor(private readonly onCommandDone: (outcome: CommandOutcome) => void = () => undefined) {}

  expect(expectation: Expectation): void {
    this.expected.push(expectation);
  }

  /** At Bind: the portal's shape is the statement's, with the result formats Bind asked for. */
  bound(portal: string, statement: string, resultFormats: readonly number[]): void {
    const shape = this.statementShapes.get(statement);
    this.portalShapes.set(portal, shape ? shape.map((column, i) => ({ ...column, format: formatAt(resultFormats, i) })) : (shape ?? null));
  }

  closed(target: 'S' | 'P', name: string): void {
    (target === 'S' ? this.statementShapes : this.portalShapes).delete(name);
  }

  /** The shape of a DataRow that arrives now; undefined when the server sent rows nobody described. */
  currentShape(): RowShape | undefined {
    const head = this.expected[0];
    if (head?.kind === 'execute') return this.portalShapes.get(head.portal) ?? undefined;
    if (head?.kind === 'query') return this.queryShape ?? undefined;
    return undefined;
  }

  /** Call for every server message, before it is forwarded. */
  observe(message: BackendMessage): void {
    const head = this.expected[0];
    if (message.name === 'errorResponse') return this.failed(head, message.fields.C ?? '?????');
    if (message.name === 'readyForQuery') {
      if (head?.kind === 'query') this.finish(head.commandId);
      this.expected.shift();
      this.queryShape = null;
      this.rows = 0;
      return;
    }
    if (message.name !== 'other') return;
    const { code, raw } = message;
    switch (code) {
      case BackendCode.parseComplete:
      case BackendCode.bindComplete:
      case BackendCode.closeComplete:
        this.expected.shift();
        return;
      case BackendCode.rowDescription: {
        const shape = decodeRowDescription(raw);
        if (head?.kind === 'describe-statement') {
          this.statementShapes.set(head.statement, shape);
          this.expected.shift();
        } else if (head?.kind === 'describe-portal') {
          this.portalShapes.set(head.portal, shape);
          this.expected.shift();
        } else {
          this.queryShape = shape;
        }
        return;
      }
      case BackendCode.noData:
        if (head?.kind === 'describe-statement') this.statementShapes.set(head.statement, null);
        if (head?.kind === 'describe-portal') this.portalShapes.set(head.portal, null);
        this.expected.shift();
        return;
      case BackendCode.dataRow:
        this.rows += 1;
        return;
      case BackendCode.commandComplete:
      case BackendCode.emptyQueryResponse:
      case BackendCode.portalSuspended:
        if (head?.kind === 'execute') {
          this.finish(head.commandId);
          this.expected.shift();
        } else if (head?.kind === 'query') {
          this.queryShape = null;
        }
        return;
      default:
        return;
    }
  }

  private failed(head: Expectation | undefined, sqlstate: string): void {
    if (head?.kind === 'query') {
      this.finish(head.commandId, sqlstate);
      // The rest of the query string is skipped; its ReadyForQuery still comes.
      this.expected[0] = { kind: 'query' };
      return;
    }
    if (head?.kind === 'execute') this.finish(head.commandId, sqlstate);
    // Extended protocol: the server discards everything up to Sync.
    while (this.expected.length > 0 && this.expected[0]!.kind !== 'sync') this.expected.shift();
  }

  private finish(commandId: number | undefined, error?: string): void {
    if (commandId !== undefined) this.onCommandDone({ commandId, rows: this.rows, ...(error ? { error } : {}) });
    this.rows = 0;
  }
}

function formatAt(formats: readonly number[], index: number): number {
  return formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[index] ?? 0);
}
