/**
 * Against the PostgreSQL normally running on 127.0.0.1:5432 (trust auth, user postgres), spoken
 * to with this codec alone. Skipped only when the connection is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import {
  AuthenticationKind,
  BackendCode,
  BackendParser,
  BufferReader,
  StartupCode,
  deriveScramKeys,
  serialize,
  type BackendMessage,
} from '../../../proxy-fleet/postgres/protocol/index.js';

const HOST = '127.0.0.1';
const PORT = 5432;
const TIMEOUT = { timeout: 20_000 };

/** A client connection that reads the server with BackendParser. */
class WireClient {
  private readonly parser = new BackendParser();
  private readonly received: BackendMessage[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.received.push(...this.parser.push(chunk));
      } catch (error) {
        this.failure = error as Error;
        socket.destroy();
      }
      this.wake?.();
    });
    socket.on('error', (error) => {
      this.failure ??= error;
      this.wake?.();
    });
    socket.on('close', () => {
      this.failure ??= new Error('server closed the connection');
      this.wake?.();
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Messages up to and including the next ReadyForQuery. */
  async untilReady(): Promise<BackendMessage[]> {
    const messages: BackendMessage[] = [];
    for (;;) {
      const message = this.received.shift();
      if (message !== undefined) {
        messages.push(message);
        if (message.name === 'readyForQuery') return messages;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Runs SQL with the simple query protocol; returns the text of every row, or throws the server's error. */
  async query(sql: string): Promise<(string | null)[][]> {
    this.send(serialize.query(sql));
    const messages = await this.untilReady();
    const error = messages.find((message) => message.name === 'errorResponse');
    if (error?.name === 'errorResponse') throw new Error(`${error.fields['C']}: ${error.fields['M']}`);
    return messages.flatMap((message) => (message.name === 'other' && message.code === BackendCode.dataRow ? [decodeDataRow(message.raw)] : []));
  }

  close(): void {
    this.socket.end(serialize.terminate());
  }
}

function decodeDataRow(raw: Buffer): (string | null)[] {
  const reader = new BufferReader(raw, 5, 'DataRow');
  const values: (string | null)[] = [];
  for (let count = reader.int16(); count > 0; count--) {
    const length = reader.int32();
    values.push(length === -1 ? null : reader.bytes(length).toString('utf8'));
  }
  reader.expectEnd();
  return values;
}

/** A CancelRequest is sent on a connection of its own, which the server then closes. */
function sendCancelRequest(processId: number, secretKey: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port: PORT }, () => socket.end(serialize.cancelRequest(processId, secretKey)));
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

/** Connects, or skips the test when nothing listens on the port. */
async function connectOrSkip(t: TestContext): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port: PORT });
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNREFUSED') return reject(error);
      t.skip(`no PostgreSQL on ${HOST}:${PORT}`);
      resolve(undefined);
    });
  });
}

/** Opens a session as postgres; returns it with the messages of the startup exchange. */
async function openSession(
  t: TestContext,
  parameters: Record<string, string> = {},
  protocolVersion: number = StartupCode.protocol3_0,
): Promise<{ client: WireClient; startupMessages: BackendMessage[] } | undefined> {
  const socket = await connectOrSkip(t);
  if (socket === undefined) return undefined;
  const client = new WireClient(socket);
  t.after(() => socket.destroy());
  client.send(serialize.startup({ user: 'postgres', database: 'postgres', application_name: 'warden-protocol-test', ...parameters }, protocolVersion));
  return { client, startupMessages: await client.untilReady() };
}

describe('against a real PostgreSQL', () => {
  it('completes the startup exchange', TIMEOUT, async (t) => {
    const session = await openSession(t);
    if (session === undefined) return;
    const names = session.startupMessages.map((message) => message.name);
    assert.deepStrictEqual(session.startupMessages[0]?.name === 'authentication' && session.startupMessages[0].kind, AuthenticationKind.ok);
    assert.ok(names.includes('backendKeyData'));
    assert.ok(
      session.startupMessages.some((message) => message.name === 'parameterStatus' && message.parameter === 'server_version'),
    );
    assert.deepStrictEqual(session.startupMessages.at(-1)?.name === 'readyForQuery' && session.startupMessages.at(-1), {
      name: 'readyForQuery',
      status: 'I',
      raw: serialize.readyForQuery('I'),
    });
    session.client.close();
  });

  it('computes the StoredKey and ServerKey PostgreSQL stores for a SCRAM password', TIMEOUT, async (t) => {
    const session = await openSession(t);
    if (session === undefined) return;
    const { client } = session;
    const role = `warden_scram_${randomBytes(6).toString('hex')}`;
    const password = randomBytes(18).toString('base64url');
    try {
      await client.query(`SET password_encryption = 'scram-sha-256'`);
      await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      const rows = await client.query(`SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`);
      const verifier = rows[0]?.[0] ?? '';
      const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
      assert.ok(match, 'rolpassword is a SCRAM-SHA-256 verifier');
      const [, iterations = '', salt = '', storedKey = '', serverKey = ''] = match;
      const keys = deriveScramKeys(password, Buffer.from(salt, 'base64'), Number(iterations));
      assert.equal(keys.storedKey.toString('base64'), storedKey);
      assert.equal(keys.serverKey.toString('base64'), serverKey);
    } finally {
      await client.query(`DROP ROLE IF EXISTS ${role}`);
      client.close();
    }
  });

  it('runs the extended query protocol', TIMEOUT, async (t) => {
    const session = await openSession(t);
    if (session === undefined) return;
    const { client } = session;
    client.send(
      Buffer.concat([
        serialize.parse('', `SELECT $1::text || '!' AS shout`, [25]),
        serialize.bind('', '', [Buffer.from('hé')]),
        serialize.describe('P', ''),
        serialize.execute('', 0),
        serialize.sync(),
      ]),
    );
    const messages = await client.untilReady();
    assert.deepStrictEqual(
      messages.map((message) => (message.name === 'other' ? String.fromCharCode(message.code) : message.name)),
      ['1', '2', 'T', 'D', 'C', 'readyForQuery'],
    );
    assert.deepStrictEqual(decodeDataRow((messages[3] as BackendMessage).raw), ['hé!']);
    client.close();
  });

  it('reports a server error with its fields', TIMEOUT, async (t) => {
    const session = await openSession(t);
    if (session === undefined) return;
    const { client } = session;
    client.send(serialize.query('SELECT * FROM warden_no_such_table'));
    const [error, ready] = await client.untilReady();
    assert.equal(error?.name, 'errorResponse');
    if (error?.name !== 'errorResponse') return;
    assert.equal(error.fields['C'], '42P01');
    assert.equal(error.fields['S'], 'ERROR');
    assert.equal(error.fields['V'], 'ERROR');
    assert.equal(ready?.name === 'readyForQuery' && ready.status, 'I');
    client.close();
  });

  it('negotiates the protocol version and reports unknown protocol options', TIMEOUT, async (t) => {
    const session = await openSession(t, { '_pq_.warden_test': 'on' }, StartupCode.protocol3_2);
    if (session === undefined) return;
    const negotiation = session.startupMessages.find((message) => message.name === 'negotiateProtocolVersion');
    assert.ok(negotiation?.name === 'negotiateProtocolVersion', 'the server sent NegotiateProtocolVersion');
    // PostgreSQL sends the whole version, not the bare minor the docs describe.
    assert.equal(negotiation.protocolVersion >>> 16, 3);
    assert.ok((negotiation.protocolVersion & 0xffff) <= 2);
    assert.deepStrictEqual(negotiation.unrecognizedOptions, ['_pq_.warden_test']);
    session.client.close();
  });

  it('cancels a running query with a CancelRequest', TIMEOUT, async (t) => {
    const session = await openSession(t);
    if (session === undefined) return;
    const keyData = session.startupMessages.find((message) => message.name === 'backendKeyData');
    assert.ok(keyData?.name === 'backendKeyData');
    const { client } = session;
    client.send(serialize.query('SELECT pg_sleep(15)'));
    let finished = false;
    const running = client.untilReady().finally(() => (finished = true));
    // A cancel that lands before the query starts is ignored, so keep sending until it ends.
    while (!finished) {
      await sendCancelRequest(keyData.processId, keyData.secretKey);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const messages = await running;
    const error = messages.find((message) => message.name === 'errorResponse');
    assert.equal(error?.name === 'errorResponse' && error.fields['C'], '57014');
    client.close();
  });
});
