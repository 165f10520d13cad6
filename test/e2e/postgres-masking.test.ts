/**
 * Masked before visible: real PostgreSQL rows, errors and COPY output through `warden up`,
 * read by psql and node-postgres (text and binary formats). No planted value may reach the
 * client, the ledger or the logs; the ledger holds counts per detector.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const run = promisify(execFile);

// Obviously fake values, each valid for its detector.
const planted = {
  email: 'ada.lovelace@example.com',
  card: '4111 1111 1111 1111',
  ssn: '123-45-6789',
  iban: 'GB82WEST12345698765432',
  ip: '10.20.30.40',
};

describe('masking through warden up', () => {
  let db: TestPostgres;
  let warden: RunningTestWarden;
  const token = async (name: string) => (await warden.cli(['token', '--as', name])).stdout.trim();
  const client = async (name: string, binary = false) => {
    // node-postgres supports binary results at run time; its type definitions omit the option.
    const config: pg.ClientConfig & { binary: boolean } = { host: '127.0.0.1', port: warden.proxyPort, user: name, database: 'app', password: await token(name), binary };
    const c = new pg.Client(config);
    await c.connect();
    return c;
  };

  const ledger = () => warden.ledger();

  before(async () => {
    db = await startTestPostgres();
    await db.sql(
      `CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, note varchar(200), card text, addr inet, score int, profile jsonb, salary numeric(10,2));
       INSERT INTO people VALUES
         (1, '${planted.email}', 'ssn ${planted.ssn}, iban ${planted.iban}', '${planted.card}', '${planted.ip}', 4111, '{"contact": "${planted.email}"}', 98765.43),
         (2, 'nobody', 'nothing to see', 'n/a', NULL, 7, '{}', 12345.67);
       ALTER TABLE people OWNER TO ${db.user};`,
      db.database,
    );
    warden = await startTestWarden(
      {
        connections: { app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'TEST_APP_PASSWORD', tls: 'disable' } },
        masking: { columns: [{ id: 'salaries', table: 'people', column: 'salary' }] },
      },
      { TEST_APP_PASSWORD: db.password },
    );
  });

  after(async () => {
    await warden?.stop();
    await db?.stop();
  });

  it('masks text columns in place and other types with a neutral value of their type (psql, text format)', async () => {
    const { stdout } = await run(join(db.bindir, 'psql'), ['-h', '127.0.0.1', '-p', String(warden.proxyPort), '-U', 'ann', '-d', 'app', '-X', '-A', '-t', '-c', 'SELECT email, note, card, addr, score, profile, salary AS pay FROM people ORDER BY id'], {
      env: { ...process.env, PGPASSWORD: await token('ann'), PGSSLMODE: 'disable' },
    });
    const [first, second] = stdout.trim().split('\n');
    // salary is masked by its column rule, resolved through the catalog even under an alias.
    assert.equal(first, '[masked:email]|ssn [masked:us-ssn], iban [masked:iban]|[masked:credit-card …1111]|0.0.0.0|4111|{"contact": "[masked:email]"}|0');
    assert.equal(second, 'nobody|nothing to see|n/a||7|{}|0');
  });

  it('masks binary-format results and keeps every column decodable (node-postgres, binary)', async () => {
    const c = await client('bea', true);
    try {
      const { rows } = await c.query('SELECT id, email, card, addr, score FROM people WHERE id = $1', [1]);
      assert.equal(rows.length, 1);
      const row = rows[0] as Record<string, unknown>;
      assert.equal(row.email, '[masked:email]');
      assert.equal(row.card, '[masked:credit-card …1111]');
      assert.equal(row.score, 4111);
      assert.equal(row.id, 1);
      assert.ok(!JSON.stringify(row).includes('10.20.30.40'));
    } finally {
      await c.end();
    }
  });

  it('records an Execute with its bound parameters masked', async () => {
    const c = await client('eve');
    try {
      await c.query('SELECT id FROM people WHERE email = $1 AND score > $2', [planted.email, 10]);
    } finally {
      await c.end();
    }
    const entries = (await ledger()).map((e) => JSON.parse(e.entry) as { type: string; identity: { sub: string }; data: { kind?: string; parameters?: unknown[] } });
    const execute = entries.find((e) => e.identity.sub === 'eve' && e.data.kind === 'sql.execute');
    assert.deepEqual(execute?.data.parameters, ['[masked:email]', '10']);
  });

  it('masks the value a unique violation quotes in its detail', async () => {
    const c = await client('cal');
    try {
      await assert.rejects(c.query(`INSERT INTO people (id, email) VALUES (3, '${planted.email}')`), (error: pg.DatabaseError) => {
        assert.equal(error.code, '23505');
        assert.equal(error.detail, 'Key (email)=([masked:email]) already exists.');
        return true;
      });
    } finally {
      await c.end();
    }
  });

  it('masks the payload of a NOTIFY another session sends', async () => {
    const listener = await client('fay');
    const sender = await client('gus');
    try {
      const received = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(String(n.payload))));
      await listener.query('LISTEN updates');
      await sender.query(`SELECT pg_notify('updates', 'new customer ${planted.email}')`);
      assert.equal(await received, 'new customer [masked:email]');
    } finally {
      await Promise.all([listener.end(), sender.end()]);
    }
  });

  it('masks COPY TO STDOUT (psql \\copy)', async () => {
    const { stdout } = await run(join(db.bindir, 'psql'), ['-h', '127.0.0.1', '-p', String(warden.proxyPort), '-U', 'dan', '-d', 'app', '-X', '-c', '\\copy (SELECT email, card FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv)'], {
      env: { ...process.env, PGPASSWORD: await token('dan'), PGSSLMODE: 'disable' },
    });
    assert.equal(stdout, '[masked:email],[masked:credit-card …1111]\nnobody,n/a\n');
  });

  it('records masking counts per detector in command.result, and no planted value anywhere', async () => {
    const entries = await ledger();
    const results = entries.map((e) => JSON.parse(e.entry) as { type: string; identity: { sub: string }; data: { masked?: Record<string, number>; rows?: number } });
    const ann = results.find((e) => e.type === 'command.result' && e.identity.sub === 'ann');
    assert.deepEqual(ann?.data.masked, { email: 2, 'us-ssn': 1, iban: 1, 'credit-card': 1, ipv4: 1, 'column:salaries': 2 });
    assert.equal(ann?.data.rows, 2);
    const everything = JSON.stringify(entries) + warden.output();
    for (const value of [...Object.values(planted), '98765.43']) assert.ok(!everything.includes(value), `${value} leaked into the ledger or logs`);
  });
});
