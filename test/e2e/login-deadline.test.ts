/**
 * End to end: the login deadline (proxy.postgres.loginTimeoutSeconds, proxy.ssh.loginTimeoutSeconds)
 * through `warden up`, set to 1 s. Connections that do not log in in time are closed, PostgreSQL
 * ones with a FATAL error; sessions that did log in, before or after them, are never cut by it.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import ssh2 from 'ssh2';
import { BackendParser, serialize } from '../../proxy-fleet/postgres/protocol/index.js';
import { freePort, startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const DEADLINE_MS = 1000;
/** Generous: only "closed at all, and not before the deadline" is asserted. */
const CLOSED_WITHIN_MS = 15_000;
/** The test measures from its own connect event, a little after the gateway accepted. */
const CLOCK_SLACK_MS = 200;
const SSH_MSG_DISCONNECT = 1;
const SSH_DISCONNECT_BY_APPLICATION = 11;

interface Closed {
  readonly afterMs: number;
  readonly received: Buffer;
}

/** Connects, sends `bytes` and nothing more, and resolves once the gateway has closed the connection. */
function stall(port: number, bytes: Buffer): Promise<Closed> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let connectedAt = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${CLOSED_WITHIN_MS} ms`));
    }, CLOSED_WITHIN_MS);
    socket.once('connect', () => {
      connectedAt = performance.now();
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ afterMs: performance.now() - connectedAt, received: Buffer.concat(chunks) });
    });
  });
}

function assertClosedAfterDeadline(closed: Closed, what: string): void {
  assert.ok(closed.afterMs >= DEADLINE_MS - CLOCK_SLACK_MS, `${what}: closed after ${Math.round(closed.afterMs)} ms, before the ${DEADLINE_MS} ms deadline`);
}

function assertTimeoutFatal(closed: Closed, what: string): void {
  const messages = new BackendParser().push(closed.received);
  assert.equal(messages.length, 1, `${what}: one message, got ${messages.map((m) => m.name).join(', ')}`);
  const [error] = messages;
  assert.ok(error?.name === 'errorResponse', `${what}: an ErrorResponse, got ${error?.name}`);
  assert.equal(error.fields.S, 'FATAL');
  assert.equal(error.fields.C, '08006');
  assert.equal(error.fields.M, `canceling authentication due to timeout: the login did not complete within ${DEADLINE_MS / 1000} s`);
}

/** The SSH message numbers of the unencrypted binary packets after the identification line, and a DISCONNECT's reason. */
function sshPackets(received: Buffer): { types: number[]; disconnectReason?: number } {
  let offset = received.indexOf('\r\n') + 2;
  const types: number[] = [];
  let disconnectReason: number | undefined;
  while (offset + 6 <= received.length) {
    const type = received[offset + 5]!;
    types.push(type);
    if (type === SSH_MSG_DISCONNECT) disconnectReason = received.readUInt32BE(offset + 6);
    offset += 4 + received.readUInt32BE(offset);
  }
  return { types, ...(disconnectReason === undefined ? {} : { disconnectReason }) };
}

describe('the login deadline through warden up', () => {
  let db: TestPostgres;
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let postgresPort: number;
  let sshPort: number;

  const token = async () => {
    const result = await warden.cli(['token', '--as', 'alice', '--groups', 'engineering']);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const postgresSession = async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: postgresPort, user: 'alice', database: 'app', password: await token(), connectionTimeoutMillis: 10_000 });
    await client.connect();
    return client;
  };
  const sshSession = async () => {
    const client = new ssh2.Client();
    const password = await token();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.connect({ host: '127.0.0.1', port: sshPort, username: 'host', password, readyTimeout: 10_000 });
    });
    return client;
  };
  const exec = (client: ssh2.Client, command: string) =>
    new Promise<{ code: number; stdout: string }>((resolve, reject) => {
      client.exec(command, (error, channel) => {
        if (error) return reject(error);
        let stdout = '';
        channel.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        channel.on('close', (code: number) => resolve({ code, stdout }));
      });
    });

  before(async () => {
    [db, sshd, postgresPort, sshPort] = await Promise.all([startTestPostgres(), startTestSshd(), freePort(), freePort()]);
    const seconds = DEADLINE_MS / 1000;
    warden = await startTestWarden(
      {
        proxy: {
          postgres: { host: '127.0.0.1', port: postgresPort, loginTimeoutSeconds: seconds },
          ssh: { host: '127.0.0.1', port: sshPort, loginTimeoutSeconds: seconds },
        },
        connections: {
          app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' },
          host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey },
        },
      },
      { TEST_APP_PASSWORD: db.password },
    );
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    await warden?.stop();
    await Promise.all([db?.stop(), sshd?.stop()]);
  });

  it('PostgreSQL: closes clients that do not log in in time with a FATAL error, and never cuts sessions that did', async () => {
    const early = await postgresSession();
    const startup = serialize.startup({ user: 'alice', database: 'app' });
    const [silent, halfStartup] = await Promise.all([stall(postgresPort, Buffer.alloc(0)), stall(postgresPort, startup.subarray(0, startup.length >> 1))]);
    assertClosedAfterDeadline(silent, 'a client that sent nothing');
    assertTimeoutFatal(silent, 'a client that sent nothing');
    assertClosedAfterDeadline(halfStartup, 'a client that sent half a startup packet');
    assertTimeoutFatal(halfStartup, 'a client that sent half a startup packet');

    const late = await postgresSession();
    await sleep(DEADLINE_MS * 2);
    for (const [name, client] of [['early', early], ['late', late]] as const) {
      const result = await client.query<{ one: number }>('SELECT 1 AS one');
      assert.equal(result.rows[0]?.one, 1, `the ${name} session still runs statements past the deadline`);
      await client.end();
    }
    assert.match(warden.output(), /"event":"login-timeout","phase":"startup"/, 'the timeout is logged');
  });

  it('SSH: closes clients that do not authenticate in time, and never cuts sessions that did', async () => {
    const early = await sshSession();
    const [silent, identOnly] = await Promise.all([stall(sshPort, Buffer.alloc(0)), stall(sshPort, Buffer.from('SSH-2.0-stalled\r\n'))]);
    assertClosedAfterDeadline(silent, 'a client that sent nothing');
    assertClosedAfterDeadline(identOnly, 'a client that sent only its identification line');
    assert.match(identOnly.received.toString('latin1'), /^SSH-2\.0-Warden\r\n/, 'the gateway identified itself');
    const packets = sshPackets(identOnly.received);
    assert.equal(packets.types.at(-1), SSH_MSG_DISCONNECT, `the gateway's last packet is a DISCONNECT (got ${packets.types.join(', ')})`);
    assert.equal(packets.disconnectReason, SSH_DISCONNECT_BY_APPLICATION);

    const late = await sshSession();
    await sleep(DEADLINE_MS * 2);
    for (const [name, client] of [['early', early], ['late', late]] as const) {
      const result = await exec(client, 'echo still here');
      assert.deepEqual(result, { code: 0, stdout: 'still here\n' }, `the ${name} session still runs commands past the deadline`);
      client.end();
    }
    const output = warden.output();
    assert.match(output, /"event":"ssh-login-timeout","stage":"identification"/, 'the timeout before identification is logged');
    assert.match(output, /"event":"ssh-login-timeout","stage":"authentication"/, 'the timeout before authentication is logged');
  });
});
