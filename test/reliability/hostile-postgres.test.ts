/**
 * Reliability: hostile PostgreSQL clients against the running `warden up`. Every malformed
 * startup, password or post-login message gets a FATAL ErrorResponse that names the problem,
 * or a clean close, never a crash or a hang; a well-behaved session keeps working throughout,
 * new logins still work, every well-behaved statement is in the ledger, and `warden verify`
 * passes afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { serialize, type BackendMessage } from '../../proxy-fleet/postgres/protocol/index.js';
import { loginWire } from '../helpers/pg-wire.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { mutatedInputs, startupPacket, typedMessage, type Phase } from './lib/hostile-pg-inputs.js';
import { probe, type HangUp, type ProbeResult } from './lib/hostile-pg-probe.js';
import { SteadySession } from './lib/hostile-steady-session.js';

const SEED = 0x5eed_0a11;
/** A seeded input may be a partial message the proxy rightly waits on: the client hangs up after this. */
const SEEDED_HANG_UP_MS = 250;

/** What a hostile input must get: a FATAL ErrorResponse with this SQLSTATE and message, or a close with no error. */
type Expected = { readonly fatal: string; readonly message: RegExp } | { readonly close: true; readonly sslAnswer?: 'S' | 'N' };

interface NamedCase {
  readonly name: string;
  readonly phase: Phase;
  readonly bytes: () => Buffer;
  readonly expected: Expected;
}

const errors = (result: ProbeResult) => result.messages.filter((m): m is Extract<BackendMessage, { name: 'errorResponse' }> => m.name === 'errorResponse');

/** Holds for every reply to every hostile input, whatever the input was. */
function assertWellFormed(result: ProbeResult, phase: Phase, name: string): void {
  for (const error of errors(result)) {
    assert.match(error.fields.S ?? '', /^(ERROR|FATAL)$/, `${name}: severity`);
    assert.match(error.fields.C ?? '', /^[0-9A-Z]{5}$/, `${name}: SQLSTATE`);
    assert.ok((error.fields.M ?? '').length > 10, `${name}: the error has a message`);
    assert.doesNotMatch(error.fields.M ?? '', /internal error/, `${name}: an input error is not an internal error`);
  }
  if (phase !== 'ready') {
    assert.ok(!result.messages.some((m) => m.name === 'authentication' && m.kind === 0), `${name}: no login without a valid token`);
  }
}

function assertExpected(result: ProbeResult, expected: Expected, name: string): void {
  if ('close' in expected) {
    assert.deepEqual(errors(result), [], `${name}: closed without an error`);
    assert.equal(result.sslAnswer, expected.sslAnswer, `${name}: SSLRequest answer`);
    return;
  }
  const fatal = errors(result).at(-1);
  assert.ok(fatal, `${name}: expected FATAL ${expected.fatal}, got ${result.messages.map((m) => m.name).join(', ') || 'a bare close'}`);
  assert.equal(fatal.fields.S, 'FATAL', `${name}: severity`);
  assert.equal(fatal.fields.C, expected.fatal, `${name}: SQLSTATE (${fatal.fields.M})`);
  assert.match(fatal.fields.M ?? '', expected.message, name);
}

const nonUtf8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80]);

const namedCases: readonly NamedCase[] = [
  { name: 'startup length of 1 GiB', phase: 'startup', bytes: () => lengthSaid(startupPacket([['user', 'x']]), 0, 1 << 30), expected: { fatal: '08P01', message: /startup packet of \d+ bytes exceeds the limit of 10000/ } },
  { name: 'negative startup length', phase: 'startup', bytes: () => lengthSaid(startupPacket([['user', 'x']]), 0, -8), expected: { fatal: '08P01', message: /invalid startup packet length -8/ } },
  { name: 'startup length 3', phase: 'startup', bytes: () => lengthSaid(startupPacket([['user', 'x']]), 0, 3), expected: { fatal: '08P01', message: /invalid startup packet length 3/ } },
  { name: 'a startup packet of 4 MB', phase: 'startup', bytes: () => startupPacket([['user', 'x'], ['options', 'x'.repeat(4 * 1024 * 1024)]]), expected: { fatal: '08P01', message: /exceeds the limit of 10000/ } },
  { name: 'startup that announces more than it sends', phase: 'startup', bytes: () => lengthSaid(startupPacket([['user', 'x']]), 0, 900), expected: { close: true } },
  { name: 'a truncated startup packet', phase: 'startup', bytes: () => startupPacket([['user', 'x'], ['database', 'app']]).subarray(0, 11), expected: { close: true } },
  { name: 'protocol 2.0', phase: 'startup', bytes: () => startupPacket([['user', 'x']], 0x0002_0000), expected: { fatal: '08P01', message: /unsupported protocol 2\.0/ } },
  { name: 'an unknown request code', phase: 'startup', bytes: () => startupPacket([], 0x04d2_ffff), expected: { fatal: '08P01', message: /unknown startup request code 1234\.65535/ } },
  { name: 'a repeated parameter', phase: 'startup', bytes: () => startupPacket([['user', 'a'], ['user', 'b']]), expected: { fatal: '08P01', message: /repeated parameter/ } },
  { name: 'no user name', phase: 'startup', bytes: () => startupPacket([['database', 'app']]), expected: { fatal: '28000', message: /no user name/ } },
  { name: 'a parameter without its terminator', phase: 'startup', bytes: () => lengthSaid(Buffer.concat([startupPacket([]).subarray(0, 8), Buffer.from('user\0x')]), 0, 14), expected: { fatal: '08P01', message: /StartupMessage/ } },
  { name: 'plaintext bytes after SSLRequest in the same write', phase: 'startup', bytes: () => Buffer.concat([serialize.sslRequest(), serialize.startup({ user: 'x' })]), expected: { fatal: '08P01', message: /unencrypted bytes received after sslRequest/ } },
  { name: 'an SSLRequest of 12 bytes', phase: 'startup', bytes: () => Buffer.concat([lengthSaid(serialize.sslRequest(), 0, 12), Buffer.alloc(4)]), expected: { fatal: '08P01', message: /sslRequest must be 8 bytes/ } },
  { name: 'a CancelRequest with a 1-byte key', phase: 'startup', bytes: () => lengthSaid(serialize.cancelRequest(1, Buffer.from([1, 2, 3, 4])).subarray(0, 13), 0, 13), expected: { fatal: '08P01', message: /CancelRequest: secret key of 1 bytes/ } },
  { name: 'a Query before startup', phase: 'startup', bytes: () => serialize.query('SELECT 1'), expected: { fatal: '08P01', message: /startup packet|invalid startup/ } },
  { name: 'a Query instead of the password', phase: 'password', bytes: () => serialize.query('SELECT 1'), expected: { fatal: '08P01', message: /expected a password message, got query/ } },
  { name: 'a password of 100,000 bytes announced', phase: 'password', bytes: () => typedMessage('p', Buffer.alloc(10), 100_000), expected: { fatal: '08P01', message: /exceeds the limit of 65535/ } },
  { name: 'a password without its terminator', phase: 'password', bytes: () => typedMessage('p', Buffer.from('abc')), expected: { fatal: '08P01', message: /PasswordMessage/ } },
  { name: 'a password that is not a token', phase: 'password', bytes: () => serialize.password('hunter2'), expected: { fatal: '28P01', message: /not a Warden token/ } },
  { name: 'a non-UTF-8 password', phase: 'password', bytes: () => typedMessage('p', Buffer.concat([nonUtf8, Buffer.from('.x.y\0')])), expected: { fatal: '08P01', message: /PasswordMessage: string is not valid UTF-8/ } },
  { name: 'a non-UTF-8 database name', phase: 'startup', bytes: () => startupPacket([['user', 'x'], ['database', Buffer.concat([Buffer.from('app'), nonUtf8])]]), expected: { fatal: '08P01', message: /StartupMessage: string is not valid UTF-8/ } },
  { name: 'a non-UTF-8 parameter name', phase: 'startup', bytes: () => startupPacket([['user', 'x'], [nonUtf8, 'y']]), expected: { fatal: '08P01', message: /StartupMessage: string is not valid UTF-8/ } },
  { name: 'a non-UTF-8 Query', phase: 'ready', bytes: () => typedMessage('Q', Buffer.concat([Buffer.from("SELECT '"), nonUtf8, Buffer.from("'\0")])), expected: { fatal: '08P01', message: /Query: string is not valid UTF-8/ } },
  { name: 'a non-UTF-8 statement in Parse', phase: 'ready', bytes: () => typedMessage('P', Buffer.concat([Buffer.from("s\0SELECT '"), nonUtf8, Buffer.from("'\0\0\0")])), expected: { fatal: '08P01', message: /Parse: string is not valid UTF-8/ } },
  { name: 'an unknown message type after login', phase: 'ready', bytes: () => typedMessage('z', Buffer.alloc(0)), expected: { fatal: '08P01', message: /unknown frontend message type/ } },
  { name: 'a Query with a negative length', phase: 'ready', bytes: () => typedMessage('Q', Buffer.from('SELECT 1\0'), -5), expected: { fatal: '08P01', message: /invalid message length -5/ } },
  { name: 'a Query announcing 2 GiB', phase: 'ready', bytes: () => typedMessage('Q', Buffer.from('SELECT 1\0'), 0x7fffffff), expected: { fatal: '08P01', message: /exceeds the limit/ } },
  { name: 'a Query with bytes after its text', phase: 'ready', bytes: () => typedMessage('Q', Buffer.from('SELECT 1\0extra')), expected: { fatal: '08P01', message: /Query/ } },
  { name: 'a Parse claiming 65535 parameter types', phase: 'ready', bytes: () => typedMessage('P', Buffer.from('s\0SELECT 1\0\xff\xff', 'latin1')), expected: { fatal: '08P01', message: /parameter types/ } },
  { name: 'a Sync with a body', phase: 'ready', bytes: () => typedMessage('S', Buffer.from('x')), expected: { fatal: '08P01', message: /Sync/ } },
  { name: 'a zero type byte after login', phase: 'ready', bytes: () => typedMessage(0, Buffer.alloc(3)), expected: { fatal: '08P01', message: /unknown frontend message type/ } },
  { name: 'a password after login', phase: 'ready', bytes: () => serialize.password('again'), expected: { fatal: '08P01', message: /unexpected password message after login/ } },
];

function lengthSaid(bytes: Buffer, at: number, length: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeInt32BE(length, at);
  return copy;
}

describe('hostile PostgreSQL clients against warden up', () => {
  let db: TestPostgres;
  let warden: RunningTestWarden;
  let steady: SteadySession;
  let token: string;
  const sent: Record<string, number> = {};
  const outcomes: Record<string, number> = {};

  const count = (table: Record<string, number>, key: string) => (table[key] = (table[key] ?? 0) + 1);
  const attack = async (name: string, phase: Phase, bytes: Buffer, hangUpAfterMs: HangUp): Promise<ProbeResult> => {
    count(sent, phase);
    const result = await probe(warden.proxyPort, phase, bytes, token, hangUpAfterMs);
    assertWellFormed(result, phase, name);
    const last = errors(result).at(-1);
    count(outcomes, last ? `${last.fields.S} ${last.fields.C}` : 'close');
    await steady.round(`after ${name}`);
    return result;
  };
  const entries = async () => (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);

  before(async () => {
    db = await startTestPostgres();
    await db.sql(`CREATE TABLE victim (id int); ALTER TABLE victim OWNER TO ${db.user};`, db.database);
    warden = await startTestWarden(
      { connections: { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' } } },
      { TEST_APP_PASSWORD: db.password },
    );
    const issued = await warden.cli(['token', '--as', 'steady', '--groups', 'engineering']);
    assert.equal(issued.code, 0, issued.stderr);
    token = issued.stdout.trim();
    steady = await SteadySession.open(warden.proxyPort, token);
    await steady.round('before any attack');
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    console.error(`hostile-postgres: inputs sent by phase ${JSON.stringify(sent)}; outcomes ${JSON.stringify(outcomes)}; well-behaved rounds ${steady?.rounds}`);
    await steady?.end();
    await warden?.stop();
    await db?.stop();
  });

  it('answers each named malformed input with the FATAL error that names it, or a clean close', async () => {
    // An input the proxy must refuse is refused while the client waits; one it must wait on ends when the client hangs up.
    for (const { name, phase, bytes, expected } of namedCases) assertExpected(await attack(name, phase, bytes(), 'close' in expected ? 0 : undefined), expected, name);
  });

  it('offers TLS on an SSLRequest and closes quietly when no handshake follows', async () => {
    assertExpected(await attack('an SSLRequest, then a close', 'startup', serialize.sslRequest(), 0), { close: true, sslAnswer: 'S' }, 'SSLRequest then nothing');
  });

  it('passes a non-UTF-8 Bind parameter to the server, whose error leaves the session usable', async () => {
    const session = await loginWire(warden.proxyPort, token, 'app', 'hostile');
    try {
      session.send(serialize.parse('', 'SELECT $1::text AS value'), serialize.bind('', '', [nonUtf8]), serialize.execute(''), serialize.sync());
      const reply = await session.readUntil((m) => m.name === 'readyForQuery');
      const error = errors({ messages: reply })[0];
      assert.equal(error?.fields.S, 'ERROR', 'the server refuses the value; the session stays');
      assert.equal(error?.fields.C, '22021', error?.fields.M);
      session.send(serialize.query('SELECT 41 + 1 AS answer'));
      const again = await session.readUntil((m) => m.name === 'readyForQuery');
      assert.equal(errors({ messages: again }).length, 0, 'the same session answers the next statement');
      count(sent, 'ready');
    } finally {
      session.socket.destroy();
    }
    await steady.round('after a non-UTF-8 parameter');
  });

  it('refuses every way of leaving client_encoding UTF8, so no statement can be smuggled past its decision', async () => {
    const session = await loginWire(warden.proxyPort, token, 'app', 'hostile');
    const run = async (sql: string) => {
      session.send(serialize.query(sql));
      return errors({ messages: await session.readUntil((m) => m.name === 'readyForQuery') });
    };
    try {
      for (const sql of ["SET client_encoding = 'SJIS'", "SET NAMES 'SJIS'", "SET SESSION client_encoding TO 'BIG5'", "SELECT set_config('client_encoding', 'SJIS', false)"]) {
        const [refused] = await run(sql);
        assert.equal(refused?.fields.C, '42501', sql);
        assert.match(refused?.fields.M ?? '', /client_encoding must stay UTF8/, sql);
        count(sent, 'ready');
      }
      // In SJIS, U+3041's last byte and the backslash would form one character, ending the string early.
      assert.deepEqual(await run("SELECT E'\u3041\\' ; DROP TABLE victim; --'"), [], 'one harmless SELECT');
      assert.equal(await db.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'victim'", db.database), '1', 'the table is still there');
    } finally {
      session.socket.destroy();
    }
    await steady.round('after the encoding attempts');
  });

  it('serves a flood of 20,000 small messages in one write, then the next statement', async () => {
    const session = await loginWire(warden.proxyPort, token, 'app', 'hostile');
    try {
      const flood = Buffer.concat(Array.from({ length: 10_000 }, () => Buffer.concat([serialize.flush(), serialize.sync()])));
      session.send(flood, serialize.query('SELECT 7 AS after_flood'));
      let ready = 0;
      const replies = await session.readUntil((m) => m.name === 'readyForQuery' && ++ready === 10_001, 30_000);
      assert.equal(replies.filter((m) => m.name === 'errorResponse').length, 0, 'nothing in the flood is an error');
      count(sent, 'ready');
    } finally {
      session.socket.destroy();
    }
    await steady.round('after the flood');
  });

  it('survives seeded mutations of valid startup, SSLRequest, CancelRequest, password, Query, Parse, Bind and Execute messages', async () => {
    const inputs = [...mutatedInputs(SEED, 'startup', 60), ...mutatedInputs(SEED + 1, 'password', 30), ...mutatedInputs(SEED + 2, 'ready', 60)];
    for (const { name, phase, bytes } of inputs) await attack(name, phase, bytes, SEEDED_HANG_UP_MS);
  });

  it('afterwards: new logins work, every well-behaved statement is in the ledger, and warden verify passes', async () => {
    const fresh = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'late', database: 'app', password: token, connectionTimeoutMillis: 10_000 });
    await fresh.connect();
    assert.deepEqual((await fresh.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await fresh.end();
    await steady.round('at the end');
    assert.deepEqual(steady.missingFrom(await entries()), [], 'every well-behaved statement is in the ledger');
    const verified = await warden.cli(['verify', '--json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal((JSON.parse(verified.stdout) as { ok: boolean }).ok, true);
    const { pid } = await warden.running();
    assert.doesNotThrow(() => process.kill(pid, 0), 'warden up is still running');
    assert.doesNotMatch(warden.output(), /"event":"session-error"/, 'no input reached the proxy\'s internal-error path');
  });
});
