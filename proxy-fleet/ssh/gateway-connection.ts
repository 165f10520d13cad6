/**
 * One client connection through the SSH gateway.
 *
 *   ssh CONN@gateway   password / keyboard-interactive: a Warden token → POST /v1/sessions
 *   exec "cmd"         POST /v1/authorize (shell facts, Cedar; entry durable) → upstream exec
 *   shell (pty)        authorized once; output masked and recorded (asciicast v2), lines captured
 *   subsystem sftp     each file operation decided and recorded; names and sizes reported
 *   direct-tcpip (-L)  decided as ssh:forward; refused unless policy allows it
 *
 * The upstream connection is opened with the gateway's own key once the client has logged in;
 * the client's credential never reaches the host.
 */
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AuthorizeCommand, CommandDecision, CommandResult, SessionStartResponse } from '../../core/contract.js';
import { detectorById, type Detector } from '../../core/masking/detectors.js';
import { CANCELED, settleHeld } from '../approval-hold.js';
import type { ApprovalWaiter } from '../approval-waiter.js';
import type { ControlPlaneClient } from '../control-plane-client.js';
import { ControlPlaneRefusal } from '../errors.js';
import type { RecordingUploader } from './recording-upload.js';
import { AsciicastRecorder } from './asciicast.js';
import { LineCapture } from './line-capture.js';
import { MaskingStream } from '../masking-stream.js';
import { SftpInspector, type SftpDecisionRequest } from './sftp-inspector.js';
import { openSshUpstream, type SshTarget } from './upstream.js';

/** Documented exit status of a command Warden refused (README, "SSH"). */
export const DENIED_EXIT_STATUS = 126;
/** Exit status when the gateway itself failed (control plane or host unreachable), as ssh uses 255 for its own errors. */
const GATEWAY_FAILURE_STATUS = 255;
const AUTH_METHODS: ssh2.AuthenticationType[] = ['password', 'keyboard-interactive'];

export interface GatewayConnectionOptions {
  readonly controlPlane: ControlPlaneClient;
  readonly approvals: ApprovalWaiter;
  readonly targets: ReadonlyMap<string, SshTarget>;
  readonly recordingsDir: string;
  /** Moves each finished recording off the proxy; unset: recordings stay in recordingsDir. */
  readonly uploadRecording?: RecordingUploader;
  readonly log: (event: Record<string, unknown>) => void;
}

type Command = Omit<AuthorizeCommand, 'sessionId' | 'commandId'>;

export class GatewayConnection {
  private session: SessionStartResponse | undefined;
  private upstream: Promise<ssh2.Client> | undefined;
  private detectors: Detector[] = [];
  private commandCount = 0;
  private lastRefusal: string | undefined;
  private closed = false;
  private endReason = 'client disconnected';
  /** Aborts waits for approval when the connection closes. */
  private readonly lifetime = new AbortController();

  constructor(
    private readonly client: ssh2.Connection,
    private readonly info: ssh2.ClientInfo,
    private readonly options: GatewayConnectionOptions,
  ) {
    client.on('authentication', (ctx) => {
      this.authenticate(ctx).catch((error: unknown) => {
        options.log({ event: 'ssh-authentication-error', error: error instanceof Error ? error.message : String(error) });
        ctx.reject(AUTH_METHODS);
      });
    });
    client.on('ready', () => this.ready());
    client.on('error', (error) => options.log({ event: 'ssh-client-error', error: error.message }));
    client.on('close', () => this.close());
  }

  get sessionId(): string | undefined {
    return this.session?.sessionId;
  }

  /** Ends the connection from outside (revocation, expiry, an ended grant). */
  terminate(reason: string): void {
    this.endReason = reason;
    this.options.log({ event: 'ssh-session-terminated', session: this.session?.sessionId, reason });
    this.client.end();
  }

  private async authenticate(ctx: ssh2.AuthContext): Promise<void> {
    if (this.session) return ctx.accept();
    if (ctx.method === 'password') return (await this.login(ctx.username, ctx.password)) ? ctx.accept() : ctx.reject(AUTH_METHODS);
    if (ctx.method === 'keyboard-interactive') {
      // The instructions carry the previous refusal: the one place SSH lets a server say why.
      // The first prompt has none, so scripts' stderr stays clean.
      const instructions = this.lastRefusal ? `Warden refused the token: ${this.lastRefusal}` : '';
      ctx.prompt([{ prompt: 'Warden token: ', echo: false }], '', instructions, (answers) => {
        this.login(ctx.username, answers[0] ?? '').then(
          (ok) => (ok ? ctx.accept() : ctx.reject(AUTH_METHODS)),
          () => ctx.reject(AUTH_METHODS),
        );
      });
      return;
    }
    ctx.reject(AUTH_METHODS);
  }

  private async login(connection: string, token: string): Promise<boolean> {
    const target = this.options.targets.get(connection);
    if (!target) {
      this.lastRefusal = `no SSH connection named "${connection}"; use one of ${[...this.options.targets.keys()].join(', ') || '(none)'} as the user name`;
      return false;
    }
    try {
      this.session = await this.options.controlPlane.startSession({ token: token.trim(), connection, protocol: 'ssh', client: { address: this.info.ip, tls: true, user: connection } });
    } catch (error) {
      if (!(error instanceof ControlPlaneRefusal)) throw error;
      this.lastRefusal = error.message;
      this.options.log({ event: 'ssh-login-refused', connection, reason: error.message });
      return false;
    }
    this.detectors = this.session.masking.detectors.map((id) => detectorById(id)).filter((detector) => detector !== undefined);
    this.upstream = openSshUpstream(target);
    // A failure surfaces on the first channel, with its cause; keep it from going unhandled meanwhile.
    this.upstream.catch(() => undefined);
    return true;
  }

  private ready(): void {
    this.client.on('session', (accept) => this.serveSession(accept()));
    this.client.on('tcpip', (accept, reject, info) => {
      this.forwardLocal(accept, reject, info).catch((error: unknown) => {
        this.options.log({ event: 'ssh-forward-error', error: error instanceof Error ? error.message : String(error) });
        reject();
      });
    });
    this.client.on('request', (_accept, reject, name) => {
      // Remote forwarding (ssh -R) would let the host reach into the client's network: refused.
      this.options.log({ event: 'ssh-global-request-refused', request: name });
      reject?.();
    });
  }

  private serveSession(session: ssh2.Session): void {
    let pty: ssh2.PseudoTtyInfo | undefined;
    const resizes: ((info: ssh2.WindowChangeInfo) => void)[] = [];
    session.on('pty', (accept, _reject, info) => {
      pty = info;
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      for (const resize of resizes) resize(info);
      accept?.();
    });
    session.on('env', (accept) => accept?.());
    session.on('exec', (accept, _reject, info) => {
      const channel = accept();
      this.contain(channel, () => this.exec(channel, info.command, pty));
    });
    session.on('shell', (accept) => {
      const channel = accept();
      this.contain(channel, () => this.shell(channel, pty, resizes));
    });
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return reject();
      const channel = accept();
      this.contain(channel, () => this.sftp(channel));
    });
  }

  /** A failure inside one channel ends that channel with a message; the gateway and other sessions go on. */
  private contain(channel: ssh2.ServerChannel, work: () => Promise<void>): void {
    work().catch((error: unknown) => {
      this.options.log({ event: 'ssh-channel-error', session: this.session?.sessionId, error: error instanceof Error ? error.message : String(error) });
      this.fail(channel, 'internal error in the Warden gateway; the command did not run or was stopped');
    });
  }

  private async exec(channel: ssh2.ServerChannel, command: string, pty: ssh2.PseudoTtyInfo | undefined): Promise<void> {
    const decision = await this.authorizeOrWait({ kind: 'ssh.exec', text: command }, channel);
    if (decision.decision !== 'allow') return this.refuse(channel, decision);
    const upstream = await this.upstreamOr(channel);
    if (!upstream) return;
    upstream.exec(command, pty ? { pty: ptyOptions(pty) } : {}, (error, remote) => {
      if (error) return this.fail(channel, `the host refused to run the command (${error.message})`);
      this.relay(channel, remote, decision.commandId);
    });
  }

  private async shell(channel: ssh2.ServerChannel, pty: ssh2.PseudoTtyInfo | undefined, resizes: ((info: ssh2.WindowChangeInfo) => void)[]): Promise<void> {
    const decision = await this.authorizeOrWait({ kind: 'ssh.shell', text: 'shell' }, channel);
    if (decision.decision !== 'allow') return this.refuse(channel, decision);
    const upstream = await this.upstreamOr(channel);
    if (!upstream) return;
    const recorder = await AsciicastRecorder.create(join(this.options.recordingsDir, `${this.session!.sessionId}-${decision.commandId}.cast`), {
      // A client without a terminal (ssh -tt < file) asks for a 0x0 pty.
      width: pty?.cols || 80,
      height: pty?.rows || 24,
      ...(pty?.term ? { term: pty.term } : {}),
      title: `${this.session!.identity.sub} on ${this.session!.connection}`,
    }, { onError: (error) => this.options.log({ event: 'recording-failed', error: error.message }) });
    upstream.shell(pty ? ptyOptions(pty) : false, (error, remote) => {
      if (error) {
        void recorder.close();
        return this.fail(channel, `the host refused to open a shell (${error.message})`);
      }
      resizes.push((info) => {
        remote.setWindow(info.rows, info.cols, info.height, info.width);
        recorder.resize(info.cols, info.rows);
      });
      // Typed lines are captured for the record; the terminal's editing state is the host's, so they are not enforced.
      const lines = new LineCapture();
      const inputMasker = new MaskingStream(this.detectors);
      inputMasker.on('data', (masked: Buffer) => recorder.input(masked));
      channel.on('data', (chunk: Buffer) => {
        inputMasker.write(chunk);
        for (const line of lines.push(chunk)) void this.authorize({ kind: 'ssh.line', text: line.text, ...(line.exact ? {} : { inexact: true }) });
      });
      this.relay(channel, remote, decision.commandId, recorder, () => inputMasker.end());
    });
  }

  /**
   * Pipes a remote command's streams through masking to the client, then passes its exit
   * status on unchanged and reports what it did.
   */
  private relay(channel: ssh2.ServerChannel, remote: ssh2.ClientChannel, commandId: number, recorder?: AsciicastRecorder, onEnd?: () => void): void {
    const stdout = new MaskingStream(this.detectors);
    const stderr = new MaskingStream(this.detectors);
    remote.pipe(stdout);
    remote.stderr.pipe(stderr);
    stdout.on('data', (chunk: Buffer) => {
      recorder?.output(chunk);
      if (!channel.write(chunk)) stdout.pause();
    });
    channel.on('drain', () => stdout.resume());
    stderr.pipe(channel.stderr, { end: false });
    channel.pipe(remote);
    channel.on('close', () => remote.close());

    let exit: { code?: number; signal?: string } = {};
    remote.on('exit', (code: number | null, signal?: string) => {
      exit = code === null || code === undefined ? { ...(signal ? { signal } : {}) } : { code };
    });
    const finished = Promise.all([new Promise((resolve) => stdout.once('end', resolve)), new Promise((resolve) => stderr.once('end', resolve))]);
    remote.on('close', () => {
      void finished.then(async () => {
        onEnd?.();
        if (exit.code !== undefined) channel.exit(exit.code);
        else if (exit.signal) channel.exit(exit.signal, false, '');
        channel.end();
        const summary = recorder ? await recorder.close().catch(() => undefined) : undefined;
        const upload = this.options.uploadRecording;
        const recording = summary && { path: upload ? await upload(this.session!.sessionId, commandId, summary) : summary.path, sha256: summary.sha256, bytes: summary.bytes };
        this.report({
          commandId,
          rows: 0,
          masked: mergeCounts(stdout.takeCounts(), stderr.takeCounts()),
          bytesOut: stdout.bytesOut + stderr.bytesOut,
          ...(exit.code !== undefined ? { exitStatus: exit.code } : {}),
          ...(exit.signal ? { exitSignal: exit.signal } : {}),
          ...(recording ? { recording } : {}),
        });
      });
    });
  }

  private async sftp(channel: ssh2.ServerChannel): Promise<void> {
    const upstream = await this.upstreamOr(channel);
    if (!upstream) return;
    upstream.subsys('sftp', (error, remote) => {
      if (error) return this.fail(channel, `the host refused the sftp subsystem (${error.message})`);
      // Each decided operation is a command; the file's sizes are reported on the open that named it.
      const opens = new Map<string, number[]>();
      const inspector = new SftpInspector({
        decide: async (request: SftpDecisionRequest) => {
          const decision = await this.authorize({ kind: 'ssh.sftp', text: `${request.operation} ${request.path}${request.targetPath ? ` ${request.targetPath}` : ''}`, sftp: request });
          if (decision.decision !== 'allow') return { allowed: false, message: `Warden denied this: ${decision.reason ?? 'denied by policy'}` };
          if (request.operation.startsWith('open-')) opens.set(request.path, [...(opens.get(request.path) ?? []), decision.commandId]);
          return { allowed: true };
        },
        toServer: (bytes) => remote.write(bytes),
        toClient: (bytes) => channel.write(bytes),
        onFile: (file) => {
          const commandId = opens.get(file.path)?.shift();
          if (commandId !== undefined) this.report({ commandId, rows: 0, masked: {}, bytesOut: file.bytesRead, bytesIn: file.bytesWritten });
        },
      });
      const guard = (feed: () => void) => {
        try {
          feed();
        } catch (problem) {
          this.options.log({ event: 'sftp-protocol-violation', error: (problem as Error).message });
          channel.close();
          remote.close();
        }
      };
      channel.on('data', (chunk: Buffer) => guard(() => inspector.fromClient(chunk)));
      remote.on('data', (chunk: Buffer) => guard(() => inspector.fromServer(chunk)));
      // The client's EOF ends the server's sftp session, which then closes its channel.
      channel.on('end', () => remote.end());
      channel.on('close', () => {
        inspector.end();
        remote.close();
      });
      // scp (over sftp) judges success by the exit status of the sftp server: pass it on.
      remote.on('exit', (code: number | null) => {
        if (typeof code === 'number') channel.exit(code);
      });
      remote.on('close', () => channel.close());
    });
  }

  private async forwardLocal(accept: ssh2.AcceptConnection<ssh2.ServerChannel>, reject: ssh2.RejectConnection, info: ssh2.TcpipRequestInfo): Promise<void> {
    const decision = await this.authorize({ kind: 'ssh.forward', text: `${info.destIP}:${info.destPort}`, forward: { direction: 'local', host: info.destIP, port: info.destPort } });
    const upstream = decision.decision === 'allow' ? await this.upstream?.catch(() => undefined) : undefined;
    if (!upstream) return reject();
    upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (error, remote) => {
      if (error) return reject();
      const channel = accept();
      channel.pipe(remote).pipe(channel);
    });
  }

  private async authorizeOrWait(command: Command, channel: ssh2.ServerChannel): Promise<CommandDecision> {
    const decision = await this.authorize(command);
    return settleHeld(
      decision,
      this.options.approvals,
      this.lifetime.signal,
      ({ id, url, expiresAt, reason }) => channel.stderr.write(`warden: waiting for approval ${id} (${url}): ${reason}; the request expires at ${expiresAt}\n`),
      (approvalId) => this.authorize({ ...command, approvalId }, decision.commandId),
    );
  }

  private async authorize(command: Command, commandId = this.commandCount++): Promise<CommandDecision> {
    const sessionId = this.session!.sessionId;
    try {
      return await this.options.controlPlane.authorize({ sessionId, commandId, ...command });
    } catch (error) {
      if (!(error instanceof ControlPlaneRefusal)) throw error;
      // Fail closed: without a durable decision nothing runs. The client's error already says it was not run.
      return { sessionId, commandId, decision: 'deny', reason: error.message, error: error.code, statements: [] };
    }
  }

  private refuse(channel: ssh2.ServerChannel, decision: CommandDecision): void {
    const unavailable = decision.error !== undefined && decision.error !== CANCELED && decision.statements.length === 0;
    const entry = decision.statements[0] ? ` (ledger entry ${decision.statements[0].entry})` : '';
    channel.stderr.write(`warden: ${unavailable ? 'could not record this command, so it was not run' : 'denied'}: ${decision.reason ?? 'denied by policy'}${entry}\n`);
    channel.exit(unavailable ? GATEWAY_FAILURE_STATUS : DENIED_EXIT_STATUS);
    channel.end();
  }

  private async upstreamOr(channel: ssh2.ServerChannel): Promise<ssh2.Client | undefined> {
    try {
      return await this.upstream!;
    } catch (error) {
      this.fail(channel, (error as Error).message);
      return undefined;
    }
  }

  private fail(channel: ssh2.ServerChannel, message: string): void {
    channel.stderr.write(`warden: ${message}\n`);
    channel.exit(GATEWAY_FAILURE_STATUS);
    channel.end();
  }

  private report(result: Omit<CommandResult, 'sessionId'>): void {
    const sessionId = this.session!.sessionId;
    this.options.controlPlane.report({ sessionId, ...result }).catch((error: unknown) => this.options.log({ event: 'result-not-recorded', session: sessionId, command: result.commandId, error: String(error) }));
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort();
    void this.upstream?.then((upstream) => upstream.end(), () => undefined);
    const session = this.session;
    if (session) {
      this.options.controlPlane.endSession(session.sessionId, this.endReason).catch((error: unknown) => {
        this.options.log({ event: 'session-end-not-recorded', session: session.sessionId, error: (error as Error).message });
      });
    }
  }
}

function ptyOptions(pty: ssh2.PseudoTtyInfo): ssh2.PseudoTtyOptions {
  return { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes };
}

function mergeCounts(...counts: Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const count of counts) for (const [id, n] of Object.entries(count)) merged[id] = (merged[id] ?? 0) + n;
  return merged;
}
