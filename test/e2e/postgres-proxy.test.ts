/**
 * End to end: a real PostgreSQL, the real `warden up`, real psql and node-postgres clients.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, connect, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import pg from 'pg';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDynamoClient } from '../../functions/lib/dynamodb.js';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { loginWire, openWire } from '../helpers/pg-wire.js';
import { serialize, type BackendMessage } from '../../proxy-fleet/postgres/protocol/index.js';

const run = promisify(execFile);

describe('PostgreSQL through warden up', () => {
  let db: TestPostgres;
  let warden: RunningTestWarden;
  let caDir: string;

  const token = async (name = 'alice', extra: string[] = []) => {
    const result = await warden.cli(['token', '--as', name, '--groups', 'engineering', ...extra]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const psql = async (password: string, args: string[], port = warden.proxyPort, env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(join(db.bindir, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'alice', '-X', '-A', '-F', '|', ...args], {
        env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  /** Integrated entries, after integrating everything durable (`warden checkpoint`). */
  const pgClient = (password: string) =>
    new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'alice', database: 'app', password, connectionTimeoutMillis: 10_000 });

  const ledger = () => warden.ledger();

  before(async () => {
    db = await startTestPostgres();
    await db.sql(
      `CREATE TABLE customers (id int PRIMARY KEY, name text, balance numeric(10,2), note text, data bytea);
       INSERT INTO customers VALUES (1, 'Zoë Ünicode', 12.50, NULL, '\\xdeadbeef'), (2, 'Bob', -3.25, 'semi;colon', NULL);
       CREATE TABLE secrets (id int, value text);
       ALTER TABLE customers OWNER TO ${db.user}; ALTER TABLE secrets OWNER TO ${db.user};`,
      db.database,
    );
    caDir = await mkdtemp(join(tmpdir(), 'warden-ca-'));
    await writeFile(join(caDir, 'server-ca.crt'), db.caCert);
    await writeFile(join(caDir, 'other-ca.crt'), selfSignedCertificate(['localhost', '127.0.0.1']).cert);
    // The shipped default set, plus one rule about a table.
    await writeFile(
      join(caDir, 'policies.cedar'),
      `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}
@id("no-secrets")
@reason("the secrets table is off limits")
forbid (principal, action, resource)
when { context has tablesRead && (context.tablesRead.contains("secrets") || context.tablesWritten.contains("secrets")) };
`,
    );
    const upstream = { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD' };
    warden = await startTestWarden(
      {
        connections: {
          app: { ...upstream, tls: 'verify-full', caFile: join(caDir, 'server-ca.crt') },
          'wrong-ca': { ...upstream, tls: 'verify-full', caFile: join(caDir, 'other-ca.crt') },
        },
        policy: { file: join(caDir, 'policies.cedar') },
      },
      { TEST_APP_PASSWORD: db.password },
    );
  });

  after(async () => {
    await warden?.stop();
    await db?.stop();
    if (caDir) await rm(caDir, { recursive: true, force: true });
  });

  it('returns psql results unchanged', async () => {
    const query = 'SELECT id, name, balance, note, data FROM customers ORDER BY id';
    const viaProxy = await psql(await token(), ['-d', 'app', '-c', query]);
    const direct = await run(join(db.bindir, 'psql'), ['-h', db.host, '-p', String(db.port), '-U', db.user, '-d', db.database, '-X', '-A', '-F', '|', '-c', query], {
      env: { ...process.env, PGPASSWORD: db.password },
    });
    assert.equal(viaProxy.code, 0, viaProxy.stderr);
    assert.equal(viaProxy.stdout, direct.stdout);
    assert.match(viaProxy.stdout, /Zoë Ünicode\|12\.50\|\|\\xdeadbeef/);
  });

  it('speaks TLS to psql: sslmode=require, and verify-full against the proxy certificate', async () => {
    const certificate = join(warden.dir, 'state', 'tls', 'proxy.crt');
    const query = ['-d', 'app', '-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'];
    const required = await psql(await token(), query, warden.proxyPort, { PGSSLMODE: 'require' });
    assert.equal(required.code, 0, required.stderr);
    // pg_stat_ssl is the upstream connection's: Warden's own link to the server is encrypted too (verify-full).
    assert.match(required.stdout, /^t$/m);
    for (const host of ['localhost', '127.0.0.1']) {
      const verified = await run(join(db.bindir, 'psql'), [`host=${host} port=${warden.proxyPort} user=alice dbname=app sslmode=verify-full sslrootcert=${certificate}`, '-X', '-A', '-t', '-c', 'SELECT 1'], {
        env: { ...process.env, PGPASSWORD: await token() },
      });
      assert.equal(verified.stdout.trim(), '1');
    }
    const otherRoot = join(caDir, 'other-ca.crt');
    const refused = await psql(await token(), ['-d', `sslmode=verify-full sslrootcert=${otherRoot} dbname=app`, '-c', 'SELECT 1']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate verify failed/);
  });

  it('refuses an upstream whose certificate does not verify, and names the cause', async () => {
    const result = await psql(await token('alice', ['--audience', 'wrong-ca']), ['-d', 'wrong-ca', '-c', 'SELECT 1']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Warden could not open connection "wrong-ca": the upstream database's TLS certificate was not accepted/);
    assert.match(warden.output(), /"event":"upstream-login-failed","connection":"wrong-ca","detail":"[^"]*self[- ]signed/);
  });

  it('returns node-postgres results unchanged, simple and extended protocol', async () => {
    const client = pgClient(await token());
    await client.connect();
    try {
      const simple = await client.query('SELECT id, name, balance FROM customers ORDER BY id');
      assert.deepEqual(simple.rows, [
        { id: 1, name: 'Zoë Ünicode', balance: '12.50' },
        { id: 2, name: 'Bob', balance: '-3.25' },
      ]);
      const extended = await client.query('SELECT name, data FROM customers WHERE id = $1', [1]);
      assert.deepEqual(extended.rows, [{ name: 'Zoë Ünicode', data: Buffer.from('deadbeef', 'hex') }]);
    } finally {
      await client.end();
    }
  });

  it('denies a statement with SQLSTATE 42501 and the reason, and the session goes on', async () => {
    const client = pgClient(await token());
    await client.connect();
    try {
      await assert.rejects(client.query('DROP TABLE customers'), (error: pg.DatabaseError) => {
        assert.equal(error.code, '42501');
        assert.match(error.message, /schema changes go through migrations/);
        return true;
      });
      // Hidden in a CTE, in another case, behind a comment: the parser still sees the table.
      await assert.rejects(client.query('/* hi */ WITH x AS (SELECT * FROM public.SECRETS) SELECT 1'), { code: '42501' });
      // Extended protocol: the denial skips to Sync, like a server error would.
      await assert.rejects(client.query('SELECT value FROM secrets WHERE id = $1', [1]), { code: '42501' });
      const next = await client.query('SELECT count(*)::int AS n FROM customers');
      assert.deepEqual(next.rows, [{ n: 2 }]);
    } finally {
      await client.end();
    }
    const tableStillThere = await db.sql('SELECT count(*) FROM customers', db.database);
    assert.equal(tableStillThere, '2');
  });

  it('aborts the transaction on a denial, as a server error would, so client and server agree', async () => {
    const client = pgClient(await token());
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query("INSERT INTO customers VALUES (10, 'Tx', 0, NULL, NULL)");
      await assert.rejects(client.query('DROP TABLE customers'), { code: '42501' });
      // The server saw an error too: the transaction is aborted, as PostgreSQL would leave it.
      await assert.rejects(client.query('SELECT 1'), { code: '25P02' });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await assert.rejects(client.query('SELECT value FROM secrets WHERE id = $1', [1]), { code: '42501' });
      const status = await client.query('COMMIT');
      assert.equal(status.command, 'ROLLBACK');
    } finally {
      await client.end();
    }
    assert.equal(await db.sql('SELECT count(*) FROM customers WHERE id = 10', db.database), '0');
  });

  it('runs nothing of a multi-statement query when one statement is denied', async () => {
    const result = await psql(await token(), ['-d', 'app', '-c', "INSERT INTO customers VALUES (3, 'Carol', 0, NULL, NULL); DROP TABLE customers"]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /statement 2 of 2 refused/);
    assert.equal(await db.sql('SELECT count(*) FROM customers WHERE id = 3', db.database), '0');
  });

  it('records every statement before it runs, with literals masked and a keyed digest', async () => {
    const secretLiteral = 'needle-4111-1111-1111-1111';
    const result = await psql(await token('bob'), ['-d', 'app', '-c', `SELECT id FROM customers WHERE note = '${secretLiteral}'; SELECT 42`, '-c', 'DROP TABLE customers', '-c', 'SELECT 7']);
    assert.match(result.stderr, /Warden denied/);
    type Entry = { type: string; identity: { sub: string }; session: string; seq: number; digest: string; data: Record<string, unknown> };
    const bobsEntries = async () =>
      (await ledger())
        .map((stored) => JSON.parse(stored.entry) as Entry)
        .filter((entry) => entry.identity.sub === 'bob')
        .sort((a, b) => a.seq - b.seq);
    // The proxy records session.end and the results after psql has gone (results may land after
    // the end: they are reported asynchronously); wait for all of them rather than race them.
    const settled = (entries: Entry[]) => entries.some((e) => e.type === 'session.end') && entries.filter((e) => e.type === 'command.result').length >= 2;
    let bobs = await bobsEntries();
    for (let tries = 0; !settled(bobs) && tries < 20; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      bobs = await bobsEntries();
    }
    assert.equal(new Set(bobs.map((e) => e.session)).size, 1);
    const results = bobs.filter((e) => e.type === 'command.result');
    // One result per command that ran: the first -c (two statements) and the last; the denied DROP never ran.
    assert.deepEqual(results.map((e) => [e.data.commandId, e.data.rows, e.data.masked]), [[0, 1, {}], [2, 1, {}]]);
    assert.deepEqual(
      bobs.filter((e) => e.type !== 'command.result').map((e) => [e.type, e.data.text, e.data.decision]),
      [
        ['session.start', undefined, undefined],
        ['command', 'SELECT id FROM customers WHERE note = $1', 'allow'],
        ['command', 'SELECT $1', 'allow'],
        ['command', 'DROP TABLE customers', 'deny'],
        ['command', 'SELECT $1', 'allow'],
        ['session.end', undefined, undefined],
      ],
    );
    assert.match(bobs[1]!.digest, /^[0-9a-f]{64}$/);
    // Each decision names the policy version and the policies that decided it.
    const drop = bobs.find((e) => e.data.text === 'DROP TABLE customers')!;
    assert.deepEqual(drop.data.policies, ['no-schema-changes']);
    assert.equal(drop.data.action, 'sql:ddl');
    assert.deepEqual(bobs[1]!.data.policies, ['read-and-write-data']);
    const snapshot = (await ledger()).map((e) => JSON.parse(e.entry) as { type: string; data: { policy?: { version: string; sha256: string; text: string } } }).find((e) => e.type === 'config.snapshot');
    const policyText = await readFile(join(caDir, 'policies.cedar'), 'utf8');
    assert.equal(snapshot?.data.policy?.text, policyText);
    assert.equal(snapshot?.data.policy?.sha256, createHash('sha256').update(policyText).digest('hex'));
    assert.equal(drop.data.policyVersion, snapshot?.data.policy?.version);
    const everything = JSON.stringify(await ledger());
    assert.ok(!everything.includes(secretLiteral), 'a literal reached the ledger');
  });

  it('carries an agent started by an agent, with the whole chain on every entry', async () => {
    const root = await token('rita');
    const planner = await warden.cli(['exchange', '--token', root, '--as', 'planner-agent']);
    assert.equal(planner.code, 0, planner.stderr);
    const coder = await warden.cli(['exchange', '--token', planner.stdout.trim(), '--as', 'coder-agent', '--audience', 'app']);
    assert.equal(coder.code, 0, coder.stderr);
    const whoami = await warden.cli(['whoami', '--token', coder.stdout.trim()]);
    assert.match(whoami.stdout, /^rita ← planner-agent ← coder-agent \(chain [0-9a-f-]{36}\)/);
    const result = await psql(coder.stdout.trim(), ['-d', 'app', '-c', 'SELECT 1']);
    assert.equal(result.code, 0, result.stderr);
    let entries: { type: string; identity: { sub: string; chain: string; act: { sub: string }[] } }[] = [];
    for (let tries = 0; tries < 10 && !entries.some((e) => e.type === 'session.end'); tries += 1) {
      entries = (await ledger()).map((e) => JSON.parse(e.entry) as (typeof entries)[number]).filter((e) => e.identity.sub === 'rita');
    }
    assert.deepEqual(new Set(entries.map((e) => e.type)), new Set(['session.start', 'command', 'command.result', 'session.end']));
    for (const entry of entries) assert.deepEqual(entry.identity.act, [{ sub: 'planner-agent' }, { sub: 'coder-agent' }]);
    assert.equal(new Set(entries.map((e) => e.identity.chain)).size, 1);
  });

  it('revokes a token or a whole chain: new sessions refused at once, running ones ended within 5 s, recorded', async () => {
    const ended = (client: pg.Client) =>
      new Promise<string>((resolve) => {
        // The server's FATAL comes first, then node-postgres reports the closed connection: keep the first.
        client.on('error', (error: Error) => resolve(error.message));
        client.once('end', () => resolve('ended'));
      });
    const root = await token('victor');
    const agent = (await warden.cli(['exchange', '--token', root, '--as', 'helper-agent'])).stdout.trim();
    const bystanderToken = await token('bystander');
    const [rootClient, agentClient, bystander] = [pgClient(root), pgClient(agent), pgClient(bystanderToken)];
    await Promise.all([rootClient.connect(), agentClient.connect(), bystander.connect()]);
    try {
      // One token first: only its session ends.
      const agentEnded = ended(agentClient);
      const single = await warden.cli(['revoke', '--token', agent, '--reason', 'agent misbehaved']);
      assert.equal(single.code, 0, single.stderr);
      const agentMessage = await Promise.race([agentEnded, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))]);
      assert.match(agentMessage, /Warden ended this session: the session's token was revoked .*agent misbehaved/);
      assert.equal((await rootClient.query('SELECT 1 AS n')).rows[0].n, 1);
      const refused = await psql(agent, ['-d', 'app', '-c', 'SELECT 1']);
      assert.match(refused.stderr, /token was revoked .*agent misbehaved/);

      // Then the whole chain: the root's own session ends too; other chains carry on.
      const { chain } = JSON.parse((await warden.cli(['whoami', '--token', root, '--json'])).stdout) as { chain: string };
      const rootEnded = ended(rootClient);
      assert.equal((await warden.cli(['revoke', '--chain', chain, '--reason', 'chain compromised'])).code, 0);
      const rootMessage = await Promise.race([rootEnded, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))]);
      assert.match(rootMessage, /revoked .*chain compromised/);
      assert.match((await psql(root, ['-d', 'app', '-c', 'SELECT 1'])).stderr, /revoked/);
      assert.equal((await bystander.query('SELECT 2 AS n')).rows[0].n, 2);
    } finally {
      await Promise.allSettled([rootClient.end(), agentClient.end(), bystander.end()]);
    }
    const revocations = (await ledger()).map((e) => JSON.parse(e.entry) as { type: string; data: { revoked?: string; reason?: string } }).filter((e) => e.type === 'token.revoked');
    assert.deepEqual(revocations.map((e) => e.data.reason).sort(), ['agent misbehaved', 'chain compromised']);
  });

  it('refuses a wrong, expired, foreign-signed or wrong-audience token with a clear message', async () => {
    const good = await token();
    const [, payloadPart] = good.split('.');
    const claims = JSON.parse(Buffer.from(payloadPart!, 'base64url').toString()) as Record<string, unknown>;
    const stateKey = JSON.parse(await readFile(join(warden.dir, 'state', 'keys', 'token-signing.jwk'), 'utf8')) as JWK;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 1000, exp: now - 60 }).setProtectedHeader({ alg: 'ES256' }).sign(await importJWK(stateKey, 'ES256'));
    const foreignKey = (await generateKeyPair('ES256')).privateKey;
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(foreignKey);
    const otherAudience = await new SignJWT({ ...claims, aud: ['billing'] }).setProtectedHeader({ alg: 'ES256' }).sign(await importJWK(stateKey, 'ES256'));

    const cases: [string, string, RegExp][] = [
      ['garbage', 'hunter2', /not a Warden token/],
      ['expired', expired, /expired at .*get a new one/],
      ['foreign', foreign, /not issued by this Warden/],
      ['audience', otherAudience, /not valid for this connection/],
    ];
    for (const [label, password, message] of cases) {
      const result = await psql(password, ['-d', 'app', '-c', 'SELECT 1']);
      assert.notEqual(result.code, 0, label);
      assert.match(result.stderr, message, label);
    }
    const unknownConnection = await psql(good, ['-d', 'nosuch', '-c', 'SELECT 1']);
    assert.match(unknownConnection.stderr, /no connection named "nosuch".*app/);
  });

  it('never sends the upstream password to the client, nor records it', async () => {
    // A tap between psql and the proxy keeps every byte the client receives.
    const received: Buffer[] = [];
    const tap: Server = createServer((client) => {
      const upstream = connect(warden.proxyPort, '127.0.0.1');
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => received.push(chunk));
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve));
    const tapPort = (tap.address() as { port: number }).port;
    try {
      // Plaintext on purpose, so the tap can read every byte the client receives.
      const plain = { PGSSLMODE: 'disable' };
      const ok = await psql(await token(), ['-d', 'app', '-c', 'SELECT current_user, session_user', '-c', 'SHOW ALL', '-c', 'DROP TABLE secrets'], tapPort, plain);
      assert.match(ok.stdout, new RegExp(db.user));
      await psql('not-a-token', ['-d', 'app', '-c', 'SELECT 1'], tapPort, plain);
    } finally {
      tap.close();
    }
    const bytes = Buffer.concat(received);
    assert.ok(bytes.length > 1000, 'the tap saw the session');
    assert.equal(bytes.indexOf(db.password), -1, 'the upstream password reached the client');
    assert.ok(!JSON.stringify(await ledger()).includes(db.password), 'the upstream password is in the ledger');
    assert.ok(!warden.output().includes(db.password), 'the upstream password is in the logs');
  });

  it('carries pgbench in simple, extended and prepared modes, deciding every statement', async () => {
    const direct = { ...process.env, PGPASSWORD: db.password };
    await run(join(db.bindir, 'pgbench'), ['-i', '-s', '1', '-q', '-h', db.host, '-p', String(db.port), '-U', db.user, db.database], { env: direct });
    for (const mode of ['simple', 'extended', 'prepared']) {
      const { stdout } = await run(join(db.bindir, 'pgbench'), ['-n', '-S', '-M', mode, '-c', '2', '-j', '2', '-t', '25', '-h', '127.0.0.1', '-p', String(warden.proxyPort), '-U', 'alice', 'app'], {
        env: { ...process.env, PGPASSWORD: await token('pgbench') },
      });
      assert.match(stdout, /number of transactions actually processed: 50\/50/, mode);
      assert.match(stdout, /number of failed transactions: 0/, mode);
    }
    const selects = (await ledger())
      .map((stored) => JSON.parse(stored.entry) as { type: string; identity: { sub: string }; data: { text?: string; kind?: string } })
      .filter((entry) => entry.identity.sub === 'pgbench' && entry.type === 'command' && entry.data.text === 'SELECT abalance FROM pgbench_accounts WHERE aid = $1');
    // Every one of the 150 transactions ran one recorded, authorized SELECT; Execute-level for the extended modes.
    assert.equal(selects.length, 150);
    assert.equal(selects.filter((entry) => entry.data.kind === 'sql.execute').length, 100);
  });

  it('keeps pipelined replies in protocol order around a denial', async () => {
    const client = await loginWire(warden.proxyPort, await token(), 'app');
    const describeMessage = (m: BackendMessage) =>
      m.name === 'errorResponse' ? `error ${m.fields.C}` : m.name === 'readyForQuery' ? `ready ${m.status}` : m.name === 'other' ? String.fromCharCode(m.code) : m.name;
    try {
      client.send(
        serialize.parse('', 'SELECT 1 AS one', []),
        serialize.bind('', '', []),
        serialize.execute('', 0),
        serialize.parse('', 'DROP TABLE customers', []),
        serialize.bind('', '', []),
        serialize.execute('', 0),
        serialize.sync(),
        serialize.query('SELECT 2 AS two'),
      );
      const first = await client.readUntil((m) => m.name === 'readyForQuery');
      // ParseComplete '1', BindComplete '2', DataRow 'D', CommandComplete 'C'; the second Parse and
      // Bind succeed as they would on the server (nothing runs until Execute), then the Execute is denied.
      assert.deepEqual(first.map(describeMessage), ['1', '2', 'D', 'C', '1', '2', 'error 42501', 'ready I']);
      const second = await client.readUntil((m) => m.name === 'readyForQuery');
      assert.deepEqual(second.map(describeMessage), ['T', 'D', 'C', 'ready I']);
      // FunctionCall carries no SQL to authorize: refused, and the session goes on.
      client.send(serialize.functionCall(1598, []), serialize.query('SELECT 3'));
      const refused = await client.readUntil((m) => m.name === 'readyForQuery');
      assert.deepEqual(refused.map(describeMessage), ['error 42501', 'ready I']);
      assert.deepEqual((await client.readUntil((m) => m.name === 'readyForQuery')).map(describeMessage), ['T', 'D', 'C', 'ready I']);
    } finally {
      client.socket.destroy();
    }
    assert.equal(await db.sql('SELECT count(*) FROM customers', db.database), '2');
  });

  it('maps a CancelRequest with the proxy-issued key to the upstream server, and ignores a wrong key', async () => {
    const client = await loginWire(warden.proxyPort, await token(), 'app');
    const { processId, secretKey } = client.backendKey!;
    const cancel = async (pid: number, key: Buffer) => {
      const side = await openWire(warden.proxyPort);
      side.send(serialize.cancelRequest(pid, key));
      await side.closed();
    };
    try {
      client.send(serialize.query('SELECT pg_sleep(30)'));
      // Cancel only once the statement runs upstream (it is authorized and recorded first).
      for (let tries = 0; tries < 100; tries += 1) {
        if ((await db.sql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")) === '1') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const wrong = Buffer.from(secretKey);
      wrong[0]! ^= 0xff;
      await cancel(processId, wrong);
      await cancel(processId + 1, secretKey);
      // The right key cancels the running statement upstream: the server answers 57014.
      await cancel(processId, secretKey);
      const reply = await client.readUntil((m) => m.name === 'readyForQuery', 10_000);
      const error = reply.find((m) => m.name === 'errorResponse');
      assert.equal(error?.name === 'errorResponse' && error.fields.C, '57014');
      assert.equal(reply.filter((m) => m.name === 'errorResponse').length, 1, 'the wrong keys cancelled nothing');
    } finally {
      client.socket.destroy();
    }
  });

  it('closes a connection that sends malformed bytes, and keeps serving the others', async () => {
    const healthy = await loginWire(warden.proxyPort, await token(), 'app');
    const hostile = await openWire(warden.proxyPort);
    // A startup packet that claims 1 GiB.
    const header = Buffer.alloc(8);
    header.writeInt32BE(1 << 30, 0);
    header.writeInt32BE(196_608, 4);
    hostile.send(header);
    const [fatal] = await hostile.closed();
    assert.equal(fatal?.name, 'errorResponse');
    assert.equal(fatal?.name === 'errorResponse' && fatal.fields.C, '08P01');

    const afterLogin = await openWire(warden.proxyPort);
    afterLogin.send(serialize.startup({ user: 'x', database: 'app' }), Buffer.from([0x7a, 0, 0, 0, 2]));
    const messages = await afterLogin.closed();
    assert.ok(messages.some((m) => m.name === 'errorResponse' && m.fields.C === '08P01'), 'a bad length after startup is a protocol violation');

    healthy.send(serialize.query('SELECT 1'));
    const reply = await healthy.readUntil((m) => m.name === 'readyForQuery');
    assert.equal(reply.at(-1)?.name, 'readyForQuery');
    healthy.socket.destroy();
  });

  it('serves node-postgres prepared statements, queued queries, cursors and partial portals', async () => {
    const client = pgClient(await token());
    await client.connect();
    try {
      const named = { name: 'by-id', text: 'SELECT name FROM customers WHERE id = $1' };
      assert.deepEqual((await client.query({ ...named, values: [1] })).rows, [{ name: 'Zoë Ünicode' }]);
      assert.deepEqual((await client.query({ ...named, values: [2] })).rows, [{ name: 'Bob' }]);
      const queued = await Promise.all([1, 2, 1].map((id) => client.query('SELECT id FROM customers WHERE id = $1', [id])));
      assert.deepEqual(queued.map((r) => r.rows[0].id), [1, 2, 1]);
      await client.query('BEGIN');
      await client.query('DECLARE c CURSOR FOR SELECT id FROM customers ORDER BY id');
      assert.deepEqual((await client.query('FETCH 1 FROM c')).rows, [{ id: 1 }]);
      assert.deepEqual((await client.query('FETCH 1 FROM c')).rows, [{ id: 2 }]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    // A portal read in pieces: every Execute is decided, and each piece arrives.
    const wire = await loginWire(warden.proxyPort, await token(), 'app');
    try {
      wire.send(serialize.parse('', 'SELECT id FROM customers ORDER BY id', []), serialize.bind('', '', []), serialize.execute('', 1), serialize.execute('', 1), serialize.sync());
      const replies = (await wire.readUntil((m) => m.name === 'readyForQuery')).map((m) => (m.name === 'other' ? String.fromCharCode(m.code) : m.name));
      assert.deepEqual(replies, ['1', '2', 'D', 's', 'D', 's', 'readyForQuery']);
    } finally {
      wire.socket.destroy();
    }
  });

  it('copies in with psql \\copy, deciding the COPY statement', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-copy-'));
    try {
      await writeFile(join(dir, 'rows.csv'), "20,Copy One,1.00,,\n21,Copy Two,2.00,,\n");
      const result = await psql(await token('copier'), ['-d', 'app', '-c', `\\copy customers (id, name, balance, note, data) FROM '${join(dir, 'rows.csv')}' WITH (FORMAT csv)`]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /COPY 2/);
      assert.equal(await db.sql('SELECT count(*) FROM customers WHERE id IN (20, 21)', db.database), '2');
      const copies = (await ledger()).map((e) => JSON.parse(e.entry) as { identity: { sub: string }; data: { statementType?: string; decision?: string } });
      assert.ok(copies.some((e) => e.identity.sub === 'copier' && e.data.statementType === 'CopyStmt' && e.data.decision === 'allow'));
    } finally {
      await db.sql('DELETE FROM customers WHERE id IN (20, 21)', db.database);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers GSSENCRequest with N and goes on; closes a connection that sends bytes after an SSLRequest', async () => {
    const gss = await openWire(warden.proxyPort);
    gss.send(serialize.gssEncRequest());
    await new Promise<void>((resolve) => gss.socket.once('data', (chunk: Buffer) => (assert.deepEqual([...chunk], [0x4e]), resolve())));
    gss.socket.destroy();
    const sneaky = await openWire(warden.proxyPort);
    sneaky.send(serialize.sslRequest(), serialize.startup({ user: 'x', database: 'app' }));
    const [error] = await sneaky.closed();
    assert.equal(error?.name === 'errorResponse' && error.fields.C, '08P01');
  });

  it('keeps healthy sessions running while others send garbage or vanish mid-message', async () => {
    const healthy = await Promise.all(Array.from({ length: 6 }, async () => {
      const c = pgClient(await token('steady'));
      await c.connect();
      return c;
    }));
    try {
      const hostile = Array.from({ length: 6 }, async (_, i) => {
        if (i % 2 === 0) {
          const wire = await openWire(warden.proxyPort);
          wire.send(Buffer.from(Array.from({ length: 64 }, (_, j) => (j * 37 + i) & 0xff)));
          await wire.closed();
        } else {
          const wire = await loginWire(warden.proxyPort, await token('vanisher'), 'app');
          // Half a Query message, then gone.
          wire.socket.write(serialize.query('SELECT 1').subarray(0, 6));
          wire.socket.destroy();
        }
      });
      const work = healthy.map(async (c, i) => {
        for (let n = 0; n < 20; n += 1) assert.equal((await c.query('SELECT $1::int AS n', [i * 100 + n])).rows[0].n, i * 100 + n);
      });
      await Promise.all([...hostile, ...work]);
    } finally {
      await Promise.all(healthy.map((c) => c.end()));
    }
    // The vanished sessions were closed and recorded as ended.
    const ends = async () => (await ledger()).map((e) => JSON.parse(e.entry) as { type: string; identity: { sub: string } }).filter((e) => e.identity.sub === 'vanisher' && e.type === 'session.end').length;
    let ended = await ends();
    for (let tries = 0; ended < 3 && tries < 10; tries += 1) ended = await ends();
    assert.equal(ended, 3);
  });

  it('verify passes on the live store, then fails naming an entry edited through the DynamoDB API', async () => {
    const clean = await warden.cli(['verify', '--json']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const report = JSON.parse(clean.stdout) as { ok: boolean; entries: number };
    assert.equal(report.ok, true);
    assert.ok(report.entries > 10);

    const victim = (await ledger()).find((entry) => entry.entry.includes('"decision":"deny"'))!;
    const { storeEndpoint } = await warden.running();
    const client = createDynamoClient({ endpoint: storeEndpoint!, region: 'us-east-1' });
    const key = { session: { S: victim.session }, seq: { N: String(victim.seq) } };
    const edited = victim.entry.replace('"decision":"deny"', '"decision":"allow"');
    await client.send(new UpdateItemCommand({ TableName: 'warden-ledger', Key: key, UpdateExpression: 'SET #e = :e', ExpressionAttributeNames: { '#e': 'entry' }, ExpressionAttributeValues: { ':e': { S: edited } } }));
    const stored = await client.send(new GetItemCommand({ TableName: 'warden-ledger', Key: key }));
    assert.equal(stored.Item?.entry?.S, edited);

    const tampered = await warden.cli(['verify']);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, new RegExp(`${victim.session}/${victim.seq}: hash-mismatch`));
    assert.match(tampered.stdout, new RegExp(`${victim.id} \\(${victim.session}/${victim.seq}\\): leaf-mismatch`));
    assert.match(tampered.stdout, /latest checkpoint in the store: checkpoint-mismatch/);

    // Re-hashing the edited entry does not help: the next entry's link breaks instead.
    const rehash = createHash('sha256').update(edited).digest('hex');
    await client.send(new UpdateItemCommand({ TableName: 'warden-ledger', Key: key, UpdateExpression: 'SET #h = :h', ExpressionAttributeNames: { '#h': 'hash' }, ExpressionAttributeValues: { ':h': { S: rehash } } }));
    const relinked = await warden.cli(['verify', '--json']);
    assert.equal(relinked.code, 1);
    const problems = (JSON.parse(relinked.stdout) as { problems: { subject: string; kind: string }[] }).problems;
    assert.ok(problems.some((p) => p.kind === 'broken-link' && p.subject === `${victim.session}/${victim.seq + 1}`), JSON.stringify(problems));
  });
});
