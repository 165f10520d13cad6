import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ScramError } from './errors.js';

/**
 * SCRAM-SHA-256 client (RFC 5802 with RFC 7677) for the proxy's own login to PostgreSQL.
 *
 * SASLprep (RFC 4013) is not applied to the password. PostgreSQL stores ASCII passwords as
 * they are and falls back to the raw bytes whenever SASLprep fails, so ASCII passwords always
 * match; a non-ASCII password that SASLprep would change (compatibility characters, non-ASCII
 * spaces) will not. Upstream passwords should therefore be ASCII.
 *
 * Channel binding is not offered (GS2 header "n,,").
 */

export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ScramClientOptions {
  /** Fixed client nonce, for known-answer tests only. Default: 18 random bytes in base64. */
  clientNonce?: string;
  /** PostgreSQL ignores the SCRAM user name (it takes the startup packet's); default empty. */
  username?: string;
  /**
   * Iteration counts accepted from the server. Below 4096 (RFC 7677's floor) a server or a man
   * in the middle could make the proof cheap to attack offline; above 10 million the key
   * derivation, which is synchronous, would stall the event loop for seconds.
   */
  minIterations?: number;
  maxIterations?: number;
}

const GS2_HEADER = 'n,,';
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString('base64');
const NONCE_BYTES = 18;
const KEY_BYTES = 32;
const DEFAULT_MIN_ITERATIONS = 4096;
const DEFAULT_MAX_ITERATIONS = 10_000_000;
/** RFC 5802 "printable": %x21-7E except ",". */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const POSITIVE_INTEGER = /^[1-9][0-9]{0,9}$/;

type State =
  | { step: 'initial' }
  | { step: 'sentClientFirst'; clientFirstBare: string }
  | { step: 'sentClientFinal'; expectedServerSignature: Buffer }
  | { step: 'done' };

export class ScramClient {
  readonly mechanism = 'SCRAM-SHA-256';
  private readonly clientNonce: string;
  private readonly username: string;
  private readonly minIterations: number;
  private readonly maxIterations: number;
  private state: State = { step: 'initial' };

  constructor(
    private readonly password: string,
    options: ScramClientOptions = {},
  ) {
    this.clientNonce = options.clientNonce ?? randomBytes(NONCE_BYTES).toString('base64');
    if (!PRINTABLE.test(this.clientNonce)) {
      throw new RangeError('a SCRAM nonce is printable ASCII without ","');
    }
    this.username = options.username ?? '';
    this.minIterations = options.minIterations ?? DEFAULT_MIN_ITERATIONS;
    this.maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  }

  /** The client-first-message, sent in SASLInitialResponse. */
  clientFirstMessage(): string {
    if (this.state.step !== 'initial') throw outOfOrder('clientFirstMessage');
    const clientFirstBare = `n=${escapeSaslName(this.username)},r=${this.clientNonce}`;
    this.state = { step: 'sentClientFirst', clientFirstBare };
    return GS2_HEADER + clientFirstBare;
  }

  /** Checks the server-first-message (AuthenticationSASLContinue) and returns the client-final-message. */
  handleServerFirst(serverFirst: string): string {
    if (this.state.step !== 'sentClientFirst') throw outOfOrder('handleServerFirst');
    const { clientFirstBare } = this.state;
    // A rejected server-first-message ends the exchange: no second try on the same client.
    this.state = { step: 'done' };
    const { nonce, salt, iterations } = this.parseServerFirst(serverFirst);
    const keys = deriveScramKeys(this.password, salt, iterations);
    const clientFinalWithoutProof = `c=${CHANNEL_BINDING},r=${nonce}`;
    const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = hmac(keys.storedKey, authMessage);
    const proof = Buffer.alloc(KEY_BYTES);
    for (let i = 0; i < KEY_BYTES; i++) {
      proof[i] = (keys.clientKey[i] as number) ^ (clientSignature[i] as number);
    }
    this.state = { step: 'sentClientFinal', expectedServerSignature: hmac(keys.serverKey, authMessage) };
    return `${clientFinalWithoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final-message (AuthenticationSASLFinal): the server proves it knew the verifier. */
  verifyServerFinal(serverFinal: string): void {
    if (this.state.step !== 'sentClientFinal') throw outOfOrder('verifyServerFinal');
    const expected = this.state.expectedServerSignature;
    this.state = { step: 'done' };
    if (serverFinal.startsWith('e=')) {
      throw new ScramError('SERVER_ERROR', `server refused SCRAM authentication: ${serverFinal.slice(2)}`);
    }
    const match = /^v=([^,]*)$/.exec(serverFinal);
    const signature = match?.[1];
    if (signature === undefined || signature === '' || !BASE64.test(signature)) {
      throw new ScramError('MALFORMED_SERVER_MESSAGE', 'server-final-message is not "v=<signature>"');
    }
    const received = Buffer.from(signature, 'base64');
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
      throw new ScramError('SERVER_SIGNATURE_MISMATCH', 'server signature does not match');
    }
  }

  /**
   * Exactly r=, s=, i= in this order. RFC 5802 §7 would allow extensions after i=; PostgreSQL
   * sends none and libpq refuses them, and so does this client.
   */
  private parseServerFirst(serverFirst: string): { nonce: string; salt: Buffer; iterations: number } {
    const match = /^r=([^,]*),s=([^,]*),i=([^,]*)$/.exec(serverFirst);
    if (match === null) {
      throw new ScramError('MALFORMED_SERVER_MESSAGE', 'server-first-message is not "r=...,s=...,i=..."');
    }
    const [, nonce = '', salt = '', iterationText = ''] = match;
    if (!PRINTABLE.test(nonce)) {
      throw new ScramError('MALFORMED_SERVER_MESSAGE', 'server nonce has characters outside printable ASCII');
    }
    // The server must append its own part, else the exchange could be a replay (RFC 5802 §5.1).
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new ScramError('NONCE_MISMATCH', 'server nonce does not extend the client nonce');
    }
    if (salt === '' || !BASE64.test(salt)) {
      throw new ScramError('MALFORMED_SERVER_MESSAGE', 'salt is not base64');
    }
    if (!POSITIVE_INTEGER.test(iterationText)) {
      throw new ScramError('MALFORMED_SERVER_MESSAGE', 'iteration count is not a positive integer');
    }
    const iterations = Number(iterationText);
    if (iterations < this.minIterations || iterations > this.maxIterations) {
      throw new ScramError(
        'ITERATION_COUNT_OUT_OF_RANGE',
        `iteration count ${iterations} is outside ${this.minIterations}..${this.maxIterations}`,
      );
    }
    return { nonce, salt: Buffer.from(salt, 'base64'), iterations };
  }
}

/**
 * The SCRAM-SHA-256 keys for a password (RFC 5802 §3). PostgreSQL stores StoredKey and
 * ServerKey as the role's verifier: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
 */
export function deriveScramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, KEY_BYTES, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  return {
    saltedPassword,
    clientKey,
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(saltedPassword, 'Server Key'),
  };
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

/** RFC 5802 §5.1: "=" and "," in a user name are written as "=3D" and "=2C". */
function escapeSaslName(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

function outOfOrder(step: string): ScramError {
  return new ScramError('INVALID_STATE', `${step} called out of order`);
}
