/**
 * One client connection through the PostgreSQL proxy.
 *
 *   client                     proxy                          control plane      server
 *     | StartupMessage ------->  |                                  |                |
 *     | <--- AuthenticationCleartextPassword                         |                |
 *     | PasswordMessage(token) ->| POST /v1/sessions -------------> |                |
 *     |                          | <------------ session id         |                |
 *     |                          | StartupMessage + gateway credential ------------> |
 *     | <-- AuthenticationOk, ParameterStatus…, BackendKeyData(proxy's), ReadyForQuery |
 *     | Query ------------------>| POST /v1/authorize ------------> | (entry durable)|
 *     |                          | <------------ allow / deny       |                |
 *     |                          | Query (allow) -----------------------------------> |
 *     | <------------------------------------------------------------- results      |
 *
 * Client messages are handled strictly in order: a message waits until every message
 * before it has been authorized and forwarded (or refused).
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { CommandDecision, CommandKind, SessionStartResponse } from '../../core/contract.js';
import { CANCELED, settleHeld } from '../approval-hold.js';
import type { ApprovalWaiter } from '../approval-waiter.js';
import type { ControlPlaneClient } from '../control-plane-client.js';
import { ControlPlaneRefusal } from '../errors.js';
import type { CancelRegistry } from './cancel-registry.js';
import { decodePasswordMessage, decodeRowDescription, FrontendParser, ProtocolError, serialize, type BackendMessage, type FrontendMessage } from './protocol/index.js';
import { DenialInjector } from './denial-injector.js';
import { ResponseMasker } from './response-masker.js';
import { ResultTracker } from './result-tracker.js';
import { detectorById } from '../../core/masking/detectors.js';
import { findColumnRule } from '../../core/masking/column-rules.js';
import { Catalog, CatalogError } from './catalog.js';
import { BackendCode } from './protocol/codes.js';
import { takeJustification } from './startup-options.js';
import { openUpstream, UpstreamLoginError, type Upstream, type UpstreamTarget } from './upstream.js';

const PROTOCOL_3_0 = 196_608;
const SQLSTATE = {
  insufficientPrivilege: '42501',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  connectionFailure: '08006',
  cannotConnectNow: '57P03',
  protocolViolation: '08P01',
  adminShutdown: '57P01',
  queryCanceled: '57014',
  successfulCompletion: '00000',
} as const;

export interface ClientTls {
  readonly context: SecureContext;
  /** Refuse clients that do not ask for TLS. */
  readonly require: boolean;
}

export interface ClientSessionOptions {
  readonly socket: Socket;
  /** Offered on SSLRequest; without it the proxy answers N, as a server without TLS does. */
  readonly tls?: ClientTls;
  readonly controlPlane: ControlPlaneClient;
  /** Where commands held for approval wait. */
  readonly approvals: ApprovalWaiter;
  readonly targets: ReadonlyMap<string, UpstreamTarget>;
  readonly cancels: CancelRegistry;
  /** The shared catalog of a connection, for column masking rules. */
  readonly catalogFor: (connection: string) => Catalog;
  readonly log: (event: Record<string, unknown>) => void;
  /** From connecting to ReadyForQuery; past it the client gets a FATAL error and is disconnected. */
  readonly loginTimeoutSeconds: number;
}

type Phase = 'startup' | 'password' | 'connecting' | 'ready' | 'closed';

export class ClientSession {
  private readonly parser = new FrontendParser();
  private phase: Phase = 'startup';
  private startupParameters: Record<string, string> = {};
  private justification: string | undefined;
  /** Aborts the wait of a command held for approval: on cancel, or when the session closes. */
  private hold: AbortController | undefined;
  private session: SessionStartResponse | undefined;
  private upstream: Upstream | undefined;
  private replies: DenialInjector | undefined;
  private tracker: ResultTracker | undefined;
  /** Prepared statements and portals by name ('' is the unnamed one): an Execute is decided on the SQL it runs. */
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, { text: string | undefined; parameters: (string | null)[] }>();
  private work: Promise<void> = Promise.resolve();
  private commandCount = 0;
  private deniedUntilSync = false;
  private cancelKey: string | undefined;
  private endReason = 'client disconnected';

  /** The client connection: the TCP socket, then the TLS socket over it after an SSLRequest. */
  private socket: Socket;
  private encrypted = false;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly loginDeadline: NodeJS.Timeout;

  constructor(private readonly options: ClientSessionOptions) {
    this.socket = options.socket;
    this.socket.setNoDelay(true);
    this.loginDeadline = setTimeout(() => this.loginTimedOut(), options.loginTimeoutSeconds * 1000);
    this.socket.on('data', this.onData);
    this.socket.on('error', () => this.close('client connection error'));
    this.socket.on('close', () => this.close(this.endReason));
  }

  private receive(chunk: Buffer): void {
    let messages: FrontendMessage[];
    try {
      messages = this.parser.push(chunk);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (messages.at(-1)?.name === 'sslRequest' && this.options.tls && !this.encrypted) {
      // Read nothing more in plaintext: what follows an SSLRequest must be a TLS handshake
      // (CVE-2021-23214). The parser already refused bytes in the same read.
      this.socket.off('data', this.onData);
      this.socket.pause();
    }
    for (const message of messages) {
      // Every message waits for the ones before it: authorization is asynchronous, order is not negotiable.
      this.work = this.work.then(() => this.handle(message)).catch((error: unknown) => this.fail(error));
    }
  }

  private async handle(message: FrontendMessage): Promise<void> {
    if (this.phase === 'closed') return;
    switch (this.phase) {
      case 'startup':
        return this.handleStartup(message);
      case 'password':
        if (message.name !== 'password') return this.fatal(SQLSTATE.protocolViolation, `expected a password message, got ${message.name}`);
        return this.openSession(decodePasswordMessage(message));
      case 'connecting':
        return this.fatal(SQLSTATE.protocolViolation, 'message received before the session was ready');
      case 'ready':
        return this.relay(message);
    }
  }

  private handleStartup(message: FrontendMessage): void {
    const { socket } = this;
    switch (message.name) {
      case 'sslRequest':
        if (this.options.tls && !this.encrypted) return this.startTls(this.options.tls);
        socket.write(serialize.sslRefused());
        return;
      case 'gssEncRequest':
        socket.write(serialize.gssEncRefused());
        return;
      case 'cancelRequest':
        this.options.cancels.cancel(message.processId, message.secretKey);
        this.close('cancel request');
        return;
      case 'startup': {
        const { parameters, justification } = takeJustification(message.parameters);
        this.startupParameters = parameters;
        this.justification = justification;
        const unknownOptions = Object.keys(message.parameters).filter((name) => name.startsWith('_pq_.'));
        if (message.protocolVersion !== PROTOCOL_3_0 || unknownOptions.length > 0) {
          // The parser already refused any major version but 3. Protocol docs, "Protocol
          // versions": offer 3.0 and list the options we do not know.
          socket.write(serialize.negotiateProtocolVersion(0, unknownOptions));
        }
        if (!this.startupParameters.user) return this.fatal(SQLSTATE.invalidAuthorization, 'no user name in the startup message');
        if (this.options.tls?.require && !this.encrypted) {
          return this.fatal(SQLSTATE.invalidAuthorization, 'this gateway requires TLS: connect with sslmode=require or verify-full');
        }
        this.phase = 'password';
        socket.write(serialize.authenticationCleartextPassword());
        return;
      }
      default:
        return this.fatal(SQLSTATE.protocolViolation, `unexpected ${message.name} before startup`);
    }
  }

  private startTls(tls: ClientTls): void {
    const plain = this.socket;
    plain.write(serialize.sslAccepted());
    const secure = new TLSSocket(plain, { isServer: true, secureContext: tls.context });
    this.socket = secure;
    this.encrypted = true;
    secure.on('data', this.onData);
    secure.on('error', () => this.close('TLS handshake or connection error'));
    plain.resume();
  }

  private async openSession(token: string): Promise<void> {
    this.phase = 'connecting';
    const user = this.startupParameters.user ?? '';
    const connection = this.startupParameters.database || user;
    const target = this.options.targets.get(connection);
    if (!target) {
      const known = [...this.options.targets.keys()].join(', ') || '(none)';
      return this.fatal(SQLSTATE.invalidAuthorization, `no connection named "${connection}" on this gateway; use one of: ${known} as the database name`);
    }
    try {
      this.session = await this.options.controlPlane.startSession({
        token,
        connection,
        protocol: 'postgres',
        client: {
          address: this.socket.remoteAddress ?? '',
          tls: this.encrypted,
          user,
          ...(this.startupParameters.application_name ? { application: this.startupParameters.application_name } : {}),
          ...(this.justification ? { justification: this.justification.slice(0, 500) } : {}),
        },
      });
    } catch (error) {
      if (error instanceof ControlPlaneRefusal) {
        const code = error.kind === 'unavailable' ? SQLSTATE.cannotConnectNow : SQLSTATE.invalidPassword;
        return this.fatal(code, `Warden refused the connection: ${error.message}`);
      }
      throw error;
    }
    // The client may have left, or its login deadline passed, while the control plane answered.
    if (this.isClosed()) return this.endSession(this.session, this.endReason);
    try {
      this.upstream = await openUpstream(target, this.startupParameters);
    } catch (error) {
      if (error instanceof UpstreamLoginError) {
        this.options.log({ event: 'upstream-login-failed', connection, detail: error.detail });
        this.endReason = 'upstream login failed';
        return this.fatal(SQLSTATE.connectionFailure, `Warden could not open connection "${connection}": ${error.message}`);
      }
      throw error;
    }
    if (this.isClosed()) {
      this.upstream.socket.destroy();
      return;
    }
    this.attachUpstream(this.upstream);
  }

  private attachUpstream(upstream: Upstream): void {
    const { socket } = this;
    const replies = new DenialInjector((chunk) => socket.write(chunk));
    this.replies = replies;
    const processId = randomInt(1, 2 ** 31 - 1);
    const secretKey = randomBytes(4);
    this.cancelKey = this.options.cancels.register(processId, secretKey, {
      upstream: upstream.backendKey,
      target: this.options.targets.get(this.session!.connection)!,
      interrupt: () => this.hold?.abort(),
    });
    socket.write(Buffer.concat([serialize.authenticationOk(), ...upstream.parameterStatuses, serialize.backendKeyData(processId, secretKey), serialize.readyForQuery(upstream.status)]));
    this.phase = 'ready';
    clearTimeout(this.loginDeadline);
    const session = this.session!;
    const tracker = new ResultTracker((outcome) => {
      const result = { sessionId: session.sessionId, ...outcome, masked: masker.take() };
      this.options.controlPlane.report(result).catch((error: unknown) => this.options.log({ event: 'result-not-recorded', session: session.sessionId, command: outcome.commandId, error: String(error) }));
    });
    const { columns, detectors } = session.masking;
    const catalog = this.options.catalogFor(session.connection);
    const masker = new ResponseMasker(
      tracker,
      detectors.map((id) => detectorById(id)).filter((detector) => detector !== undefined),
      (column) => {
        const identity = catalog.lookup(column.tableOid, column.attributeNumber);
        return identity && findColumnRule(columns, identity);
      },
      columns.length > 0,
    );
    this.tracker = tracker;
    // Masked first, then attributed, then sent: no byte of a message reaches the client unmasked.
    const fromServer = (message: BackendMessage) => {
      const bytes = masker.mask(message);
      tracker.observe(message);
      replies.fromServer(message, bytes);
    };
    // With column rules, a RowDescription naming tables not yet in the catalog holds the stream
    // (and the upstream socket) until their columns are known: its rows must not pass unresolved.
    const unresolvedTables = (message: BackendMessage) =>
      columns.length > 0 && message.name === 'other' && message.code === BackendCode.rowDescription ? catalog.unknown(decodeRowDescription(message.raw).map((c) => c.tableOid)) : [];
    const pending: BackendMessage[] = [...upstream.pending];
    let draining = false;
    const drain = async () => {
      draining = true;
      try {
        for (let message = pending.shift(); message; message = pending.shift()) {
          const tables = unresolvedTables(message);
          if (tables.length > 0) {
            upstream.socket.pause();
            await catalog.load(tables);
            upstream.socket.resume();
          }
          fromServer(message);
        }
      } catch (error) {
        this.serverFailure(error);
      } finally {
        draining = false;
      }
    };
    upstream.socket.on('data', (chunk: Buffer) => {
      try {
        pending.push(...upstream.parser.push(chunk));
      } catch (error) {
        this.serverFailure(error);
        return;
      }
      // Coalesce the replies to one read into one write to the client.
      this.socket.cork();
      if (!draining) void drain();
      this.socket.uncork();
    });
    void drain();
    upstream.socket.on('error', () => this.close('upstream connection error'));
    upstream.socket.on('close', () => {
      this.endReason = 'upstream closed the connection';
      socket.end();
    });
  }

  /** The control-plane session id, once the session is open. */
  get sessionId(): string | undefined {
    return this.phase === 'ready' ? this.session?.sessionId : undefined;
  }

  /** Ends the session from outside (revocation, expiry), telling the client why. */
  terminate(reason: string): void {
    this.endReason = reason;
    this.fatal(SQLSTATE.adminShutdown, `Warden ended this session: ${reason}`);
  }

  private loginTimedOut(): void {
    const seconds = this.options.loginTimeoutSeconds;
    this.options.log({ event: 'login-timeout', phase: this.phase, address: this.options.socket.remoteAddress, seconds });
    // PostgreSQL ends such a login with 57014 (query_canceled) and this message, but only in its
    // log: the client just loses the connection. Told here, a client gets 08006
    // (connection_failure), the class drivers treat as a failed connect, which this is.
    this.fatal(SQLSTATE.connectionFailure, `canceling authentication due to timeout: the login did not complete within ${seconds} s`);
  }

  private serverFailure(error: unknown): void {
    if (error instanceof CatalogError) {
      this.options.log({ event: 'catalog-failed', message: error.message });
      return this.fatal(SQLSTATE.connectionFailure, 'Warden could not resolve result columns for masking, so it withheld them; the session is closed');
    }
    this.options.log({ event: 'upstream-protocol-violation', code: (error as ProtocolError).code, message: (error as Error).message });
    this.fatal(SQLSTATE.protocolViolation, error instanceof ProtocolError && error.code === 'UNEXPECTED_MESSAGE' ? error.message : 'the upstream database sent malformed data; the session is closed');
  }

  private async relay(message: FrontendMessage): Promise<void> {
    const upstream = this.upstream!.socket;
    const replies = this.replies!;
    const tracker = this.tracker!;
    switch (message.name) {
      case 'query': {
        const decision = await this.authorizeOrWait({ kind: 'sql.query', text: message.text });
        if (decision.decision === 'allow') {
          tracker.expect({ kind: 'query', commandId: decision.commandId });
          replies.cycleEnded();
          upstream.write(message.raw);
        } else {
          tracker.expect({ kind: 'query' });
          upstream.write(replies.deniedQuery(this.denialError(decision)));
        }
        return;
      }
      case 'parse':
        this.statements.set(message.statement, message.text);
        tracker.expect({ kind: 'parse' });
        upstream.write(message.raw);
        return;
      case 'bind':
        this.portals.set(message.portal, { text: this.statements.get(message.statement), parameters: message.params.map((value, i) => describeParameter(value, formatOf(message.paramFormats, i))) });
        tracker.bound(message.portal, message.statement, message.resultFormats);
        tracker.expect({ kind: 'bind' });
        upstream.write(message.raw);
        return;
      case 'describe':
        tracker.expect(message.target === 'S' ? { kind: 'describe-statement', statement: message.objectName } : { kind: 'describe-portal', portal: message.objectName });
        upstream.write(message.raw);
        return;
      case 'close':
        (message.target === 'S' ? this.statements : this.portals).delete(message.objectName);
        tracker.closed(message.target, message.objectName);
        tracker.expect({ kind: 'close' });
        upstream.write(message.raw);
        return;
      case 'execute': {
        // After a denial the server skips to Sync, and so does the proxy: nothing here would run.
        if (this.deniedUntilSync) return;
        const portal = this.portals.get(message.portal);
        if (portal?.text === undefined) {
          // No statement the proxy saw: the server answers with its own error and runs nothing.
          tracker.expect({ kind: 'execute', portal: message.portal });
          upstream.write(message.raw);
          return;
        }
        const decision = await this.authorizeOrWait({ kind: 'sql.execute', text: portal.text, parameters: portal.parameters });
        if (decision.decision === 'allow') {
          tracker.expect({ kind: 'execute', portal: message.portal, commandId: decision.commandId });
          upstream.write(message.raw);
        } else {
          tracker.expect({ kind: 'parse' });
          upstream.write(replies.deniedExecute(this.denialError(decision)));
          this.deniedUntilSync = true;
        }
        return;
      }
      case 'sync':
        this.deniedUntilSync = false;
        tracker.expect({ kind: 'sync' });
        replies.cycleEnded();
        upstream.write(message.raw);
        return;
      case 'functionCall':
        tracker.expect({ kind: 'query' });
        upstream.write(replies.deniedQuery(serialize.errorResponse({ severity: 'ERROR', code: SQLSTATE.insufficientPrivilege, message: 'Warden refuses FunctionCall messages: they carry no SQL text to authorize; call the function with SELECT' })));
        return;
      case 'terminate':
        this.endReason = 'client terminated';
        upstream.end(message.raw);
        this.socket.end();
        return;
      case 'password':
        return this.fatal(SQLSTATE.protocolViolation, 'unexpected password message after login');
      case 'startup':
      case 'sslRequest':
      case 'gssEncRequest':
      case 'cancelRequest':
        return this.fatal(SQLSTATE.protocolViolation, `unexpected ${message.name} after startup`);
      default:
        // Describe, Flush and COPY data belong to a statement already authorized.
        upstream.write(message.raw);
    }
  }

  /**
   * A command policy holds for approval waits here: the client gets a NoticeResponse naming the
   * request at once, then the command runs once approved, or fails with the reason. Messages
   * after it wait too, as they do behind any command.
   */
  private async authorizeOrWait(command: Command): Promise<CommandDecision> {
    const decision = await this.authorize(command);
    // Every message passes here: the wait's machinery is made only for a command that is held.
    if (decision.decision !== 'approval') return decision;
    this.hold = new AbortController();
    try {
      return await settleHeld(
        decision,
        this.options.approvals,
        this.hold.signal,
        ({ id, url, expiresAt, reason }) =>
          this.socket.write(
            serialize.noticeResponse({
              severity: 'NOTICE',
              code: SQLSTATE.successfulCompletion,
              message: `Warden: waiting for approval ${id} (${url})`,
              detail: `${reason}; the request expires at ${expiresAt}`,
              hint: `an approver runs: warden approve ${id} --reason "…"; cancel the query to stop waiting`,
            }),
          ),
        (approvalId) => this.authorize({ ...command, approvalId }, decision.commandId),
      );
    } finally {
      this.hold = undefined;
    }
  }

  private async authorize(command: Command, commandId = this.commandCount++): Promise<CommandDecision> {
    const session = this.session!;
    try {
      return await this.options.controlPlane.authorize({ sessionId: session.sessionId, commandId, ...command });
    } catch (error) {
      if (!(error instanceof ControlPlaneRefusal)) throw error;
      // Fail closed: without a durable decision nothing is forwarded. The client's error already says it was not run.
      return { sessionId: session.sessionId, commandId, decision: 'deny', reason: error.message, error: error.code, statements: [] };
    }
  }

  private denialError(decision: CommandDecision): Buffer {
    if (decision.error === CANCELED) return serialize.errorResponse({ severity: 'ERROR', code: SQLSTATE.queryCanceled, message: `canceling statement due to user request (${decision.reason ?? ''})` });
    const unavailable = decision.error !== undefined && decision.statements.length === 0;
    return serialize.errorResponse({
      severity: 'ERROR',
      code: unavailable ? SQLSTATE.cannotConnectNow : SQLSTATE.insufficientPrivilege,
      message: unavailable ? `Warden could not record this command, so it was not run: ${decision.reason ?? ''}` : `Warden denied this command: ${decision.reason ?? 'denied by policy'}`,
      ...(decision.statements[0] ? { detail: `ledger entry ${decision.statements[0].entry}` } : {}),
    });
  }

  private fatal(code: string, message: string): void {
    if (this.phase === 'closed') return;
    this.socket.write(serialize.errorResponse({ severity: 'FATAL', code, message }));
    this.close(message);
  }

  private fail(error: unknown): void {
    if (error instanceof ProtocolError) {
      this.options.log({ event: 'protocol-violation', code: error.code });
      return this.fatal(SQLSTATE.protocolViolation, `protocol violation: ${error.message}`);
    }
    this.options.log({ event: 'session-error', error: error instanceof Error ? error.name : 'unknown' });
    this.fatal(SQLSTATE.connectionFailure, 'internal error in the Warden proxy; the session is closed');
  }

  private isClosed(): boolean {
    return this.phase === 'closed';
  }

  private close(reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.endReason = reason;
    clearTimeout(this.loginDeadline);
    this.hold?.abort();
    if (this.cancelKey) this.options.cancels.unregister(this.cancelKey);
    this.upstream?.socket.destroy();
    // end(), not destroy(): a FATAL ErrorResponse written just before must still reach the client.
    const { socket } = this;
    socket.end();
    setTimeout(() => {
      socket.destroy();
      this.options.socket.destroy();
    }, 1000).unref();
    if (this.session) this.endSession(this.session, reason);
  }

  private endSession(session: SessionStartResponse, reason: string): void {
    this.options.controlPlane.endSession(session.sessionId, reason).catch((error: unknown) => {
      this.options.log({ event: 'session-end-not-recorded', session: session.sessionId, error: (error as Error).message });
    });
  }
}

interface Command {
  readonly kind: CommandKind;
  readonly text: string;
  readonly parameters?: (string | null)[];
  readonly approvalId?: string;
}

/** Bind's format codes: none means all text, one applies to every parameter (protocol docs, "Bind"). */
function formatOf(formats: readonly number[], index: number): number {
  return formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[index] ?? 0);
}

function describeParameter(value: Buffer | null, format: number): string | null {
  if (value === null) return null;
  return format === 0 ? value.toString('utf8') : `base64:${value.toString('base64')}`;
}
