/**
 * Opens the proxy's own connection to the target database and logs in with the credential
 * the gateway holds. The credential never leaves this module: the client only ever sees
 * the server's ParameterStatus messages and the proxy's own BackendKeyData.
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { BackendParser, ScramClient, serialize, type BackendMessage } from './protocol/index.js';

export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
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
  const socket = connect({ host: target.host, port: target.port, noDelay: true });
  try {
    return await new Promise<Upstream>((resolve, reject) => {
      const timer = setTimeout(() => reject(new UpstreamLoginError('the upstream database did not answer in time', `no answer from ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs);
      const login = new LoginExchange(target, socket);
      socket.once('error', (error) => reject(new UpstreamLoginError('the upstream database is unreachable', error.message)));
      socket.once('close', () => reject(new UpstreamLoginError('the upstream database closed the connection during login', 'closed during startup')));
      socket.on('data', (chunk: Buffer) => {
        try {
          const done = login.receive(chunk);
          if (done) {
            clearTimeout(timer);
            socket.removeAllListeners('data');
            socket.removeAllListeners('error');
            socket.removeAllListeners('close');
            resolve(done);
          }
        } catch (error) {
          clearTimeout(timer);
          reject(error);
        }
      });
      socket.once('connect', () => {
        // The control plane parses SQL as UTF-8, so the server must send and expect exactly that;
        // the client learns it from the server's ParameterStatus.
        const parameters: Record<string, string> = { user: target.user, database: target.database, client_encoding: 'UTF8' };
        for (const name of forwardedParameters) {
          const value = clientParameters[name];
          if (value !== undefined) parameters[name] = value;
        }
        socket.write(serialize.startup(parameters));
      });
    });
  } catch (error) {
    socket.destroy();
    throw error;
  }
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
