/**
 * Opens the proxy's own connection to the target database and logs in with the credential
 * the gateway holds. The credential never leaves this module: the client only ever sees
 * the server's ParameterStatus messages and the proxy's own BackendKeyData.
 */
import { createHash } from 'node:crypto';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { BackendParser, ScramClient, serialize, type BackendMessage } from './protocol/index.js';

export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  readonly tls: 'disable' | 'prefer' | 'require' | 'verify-full';
  /** PEM of the CA for verify-full; the system roots when unset. */
  readonly ca?: string;
}

export interface Upstream {
  readonly socket: Socket;
  readonly parser: BackendParser;
  /** Raw ParameterStatus messages from the server's startup, to relay to the client. */
  readonly parameterStatuses: readonly Buffer[];
  readonly backendKey: { readonly processId: number; readonly secretKey: Buffer };
  readonly status: 'I' | 'T' | 'E';
  /** Messages that arrived after ReadyForQuery in the same read. */
  readonly pending: readonly BackendMessage[];
}

/** Why the upstream login failed. `detail` is for the operator's log, never for the client. */
export class UpstreamLoginError extends Error {
  override readonly name = 'UpstreamLoginError';
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Client startup parameters safe to pass on. `options` is not: it can set any server setting, `role` included. */
const forwardedParameters = ['application_name', 'DateStyle', 'TimeZone', 'IntervalStyle', 'extra_float_digits'];

export async function openUpstream(target: UpstreamTarget, clientParameters: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<Upstream> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let socket: Socket = await connectTcp(target, deadline);
  try {
    socket = await negotiateTls(socket, target, deadline);
    // The control plane parses SQL as UTF-8, so the server must send and expect exactly that;
    // the client learns it from the server's ParameterStatus.
    const parameters: Record<string, string> = { user: target.user, database: target.database, client_encoding: 'UTF8' };
    for (const name of forwardedParameters) {
      const value = clientParameters[name];
      if (value !== undefined) parameters[name] = value;
    }
    socket.write(serialize.startup(parameters));
    const login = new LoginExchange(target, socket);
    return await untilDone<Upstream>(socket, deadline, 'during login', (chunk) => login.receive(chunk));
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

function connectTcp(target: UpstreamTarget, deadline: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const fail = (detail: string) => {
      socket.destroy();
      reject(new UpstreamLoginError('the upstream database is unreachable', detail));
    };
    const onAbort = () => fail(`no connection to ${target.host}:${target.port} in time`);
    deadline.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (error) => fail(error.message));
    socket.once('connect', () => {
      deadline.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** SSLRequest first, as libpq does (protocol docs, "SSL Session Encryption"), unless the connection says disable. */
async function negotiateTls(socket: Socket, target: UpstreamTarget, deadline: AbortSignal): Promise<Socket> {
  if (target.tls === 'disable') return socket;
  socket.write(serialize.sslRequest());
  const answer = await untilDone<Buffer>(socket, deadline, 'answering SSLRequest', (chunk) => chunk);
  // Bytes after the answer and before the handshake could be injected by a man in the middle (CVE-2021-23222).
  if (answer.length !== 1) throw new UpstreamLoginError('the upstream database answered SSLRequest with unexpected bytes', `${answer.length} bytes`);
  if (answer[0] !== 0x53) {
    if (target.tls === 'prefer') return socket;
    throw new UpstreamLoginError('the upstream database does not offer TLS, and the connection requires it', `answer ${answer[0]}`);
  }
  const verify = target.tls === 'verify-full';
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      host: target.host,
      ...(isIP(target.host) ? {} : { servername: target.host }),
      ...(target.ca ? { ca: target.ca } : {}),
      rejectUnauthorized: verify,
      ...(verify ? {} : { checkServerIdentity: () => undefined }),
      minVersion: 'TLSv1.2',
    });
    secure.once('secureConnect', () => {
      secure.removeAllListeners('error');
      resolve(secure);
    });
    secure.once('error', (error) => reject(new UpstreamLoginError('the upstream database\'s TLS certificate was not accepted', error.message)));
  });
}

/** Feeds incoming chunks to `step` until it returns a result. */
function untilDone<T>(socket: Socket, deadline: AbortSignal, phase: string, step: (chunk: Buffer) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      deadline.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      try {
        const done = step(chunk);
        if (done !== undefined) {
          cleanup();
          resolve(done);
        }
      } catch (error) {
        fail(error as Error);
      }
    };
    const onError = (error: Error) => fail(new UpstreamLoginError('the upstream connection failed', `${phase}: ${error.message}`));
    const onClose = () => fail(new UpstreamLoginError('the upstream database closed the connection', phase));
    const onAbort = () => fail(new UpstreamLoginError('the upstream database did not answer in time', phase));
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    deadline.addEventListener('abort', onAbort, { once: true });
  });
}

class LoginExchange {
  private readonly parser = new BackendParser();
  private readonly parameterStatuses: Buffer[] = [];
  private backendKey: Upstream['backendKey'] = { processId: 0, secretKey: Buffer.alloc(4) };
  private scram: ScramClient | undefined;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly socket: Socket,
  ) {}

  receive(chunk: Buffer): Upstream | undefined {
    const messages = this.parser.push(chunk);
    for (let i = 0; i < messages.length; i += 1) {
      const message = messages[i]!;
      switch (message.name) {
        case 'authentication':
          this.authenticate(message.kind, message.data);
          break;
        case 'parameterStatus':
          this.parameterStatuses.push(message.raw);
          break;
        case 'backendKeyData':
          this.backendKey = { processId: message.processId, secretKey: message.secretKey };
          break;
        case 'errorResponse':
          throw new UpstreamLoginError('the upstream database refused the gateway login', `${message.fields.C ?? ''} ${message.fields.M ?? ''}`);
        case 'readyForQuery':
          return {
            socket: this.socket,
            parser: this.parser,
            parameterStatuses: this.parameterStatuses,
            backendKey: this.backendKey,
            status: message.status,
            pending: messages.slice(i + 1),
          };
        default:
          break;
      }
    }
    return undefined;
  }

  private authenticate(kind: number, data: Buffer): void {
    const password = this.target.password;
    if (kind === 0) return;
    if (password === undefined) throw new UpstreamLoginError('the upstream database asks for a password the gateway does not have', `auth kind ${kind}`);
    switch (kind) {
      case 3: // AuthenticationCleartextPassword
        this.socket.write(serialize.password(password));
        return;
      case 5: {
        // AuthenticationMD5Password: "md5" + md5(md5(password + user) + salt)
        const inner = createHash('md5').update(password + this.target.user).digest('hex');
        this.socket.write(serialize.password(`md5${createHash('md5').update(inner).update(data.subarray(0, 4)).digest('hex')}`));
        return;
      }
      case 10: {
        const mechanisms = data.toString('utf8').split('\0').filter(Boolean);
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new UpstreamLoginError('the upstream database offers no SASL mechanism the gateway supports', mechanisms.join(','));
        this.scram = new ScramClient(password);
        this.socket.write(serialize.saslInitialResponse(this.scram.mechanism, Buffer.from(this.scram.clientFirstMessage())));
        return;
      }
      case 11:
        this.socket.write(serialize.saslResponse(Buffer.from(this.requireScram().handleServerFirst(data.toString('utf8')))));
        return;
      case 12:
        this.requireScram().verifyServerFinal(data.toString('utf8'));
        return;
      default:
        throw new UpstreamLoginError('the upstream database asks for an authentication method the gateway does not support', `auth kind ${kind}`);
    }
  }

  private requireScram(): ScramClient {
    if (!this.scram) throw new UpstreamLoginError('the upstream database sent SASL data out of order', 'SASL continue before start');
    return this.scram;
  }
}
