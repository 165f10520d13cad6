/**
 * Secrets and PII never leak. A workload through `warden up` handles seeded PII every way a
 * client can (rows that return it, statement text and bound parameters that carry it, errors
 * and refusals that quote it, a request held for approval, SSH exec and shell output that
 * prints it), then `warden export` writes a bundle. The store (every item of every table), the
 * state directory (store files, recordings, keys, checkpoints), everything `warden up` printed
 * and every file of the bundle are scanned for each PII value and each upstream credential, in
 * every encoding that would still give it away. There must be no hit.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import ssh2 from 'ssh2';
import { unpackBundle } from '../../core/evidence/archive.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import { createDynamoClient } from '../../functions/lib/dynamodb.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { binaryNeedles, needlesFor, type Needle } from './lib/leak-needles.js';
import { PII, PII_FILE_TEXT, SEED_SQL, spellingsOf } from './lib/leak-pii.js';
import { LeakScan } from './lib/leak-scan.js';
import { filesUnder, storeItems } from './lib/leak-sources.js';
import { gatewaySsh, type GatewaySsh } from './lib/leak-ssh-client.js';

describe('secrets and PII never leak', () => {
  let db: TestPostgres;
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let ssh: GatewaySsh;
  let dir: string;
  let piiFile: string;
  let bundle: string;

  const token = async (name: string, groups = 'eng') => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };

  before(async () => {
    [db, sshd] = await Promise.all([startTestPostgres(), startTestSshd()]);
    await db.sql(`${SEED_SQL} ALTER TABLE customers OWNER TO ${db.user};`, db.database);
    dir = await mkdtemp(join(tmpdir(), 'warden-no-leaks-'));
    piiFile = join(dir, 'customers.txt');
    await writeFile(piiFile, PII_FILE_TEXT);
    await writeFile(
      join(dir, 'policies.cedar'),
      `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}
@id("shells") permit (principal, action == Warden::Action::"ssh:shell", resource);

@id("no-uploads") @reason("curl does not run through the gateway")
forbid (principal, action == Warden::Action::"ssh:exec", resource) when { context.programs.contains("curl") };
`,
    );
    warden = await startTestWarden(
      {
        connections: {
          // The upstream requires SCRAM with a password only the gateway holds; the key likewise.
          app: { kind: 'postgres', host: db.host, port: db.port, database: db.database, user: db.user, passwordEnv: 'LEAK_DB_PASSWORD', tls: 'disable' },
          host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyEnv: 'LEAK_SSH_KEY', hostKey: sshd.hostPublicKey },
        },
        policy: { file: join(dir, 'policies.cedar') },
      },
      { LEAK_DB_PASSWORD: db.password, LEAK_SSH_KEY: await readFile(sshd.clientKeyPath, 'utf8') },
    );
    const running = await warden.running();
    assert.ok(running.ssh, 'warden up reports the SSH gateway');
    ssh = await gatewaySsh(dir, running.ssh);
  });

  after(async () => {
    ssh?.stop();
    await warden?.stop();
    await Promise.all([db?.stop(), sshd?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Waits for the one pending approval request and denies it. */
  const denyOnlyApproval = async (approver: string) => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const pending = JSON.parse((await warden.cli(['approvals', '--json', '--token', approver])).stdout || '[]') as { id: string }[];
      if (pending[0]) {
        const denied = await warden.cli(['deny', pending[0].id, '--reason', 'not during the audit', '--token', approver]);
        assert.equal(denied.code, 0, denied.stderr);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.fail('no approval request appeared');
  };

  it('seeds only values the content detectors find, so any hit would be an unmasked one', () => {
    for (const [name, value] of Object.entries(PII)) assert.ok(!maskText(value, contentDetectors).text.includes(value), `${name} is not detected: pick a value a detector finds`);
  });

  it('finds a value hidden in base64 at any alignment, JSON-escaped or without its punctuation (the scan itself works)', () => {
    const scan = new LeakScan([...needlesFor('password', 'pa"ss\\word-42'), ...needlesFor('card', PII.visa, spellingsOf(PII.visa))]);
    for (const prefix of ['', 'x', 'xy']) scan.scan('self-test', `base64 after ${prefix.length}`, Buffer.from(Buffer.from(`${prefix}pa"ss\\word-42!`).toString('base64')));
    scan.scan('self-test', 'json', Buffer.from(JSON.stringify({ note: 'pa"ss\\word-42' })));
    scan.scan('self-test', 'digits', Buffer.from(`card=${PII.visa.replaceAll(' ', '')};`));
    assert.equal(new Set(scan.hits.map((hit) => hit.where)).size, 5, JSON.stringify(scan.hits));
  });

  it('runs the workload: PII in rows, statement text, parameters, errors, refusals, exec and shell output', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'ana', database: 'app', password: await token('ana') });
    await client.connect();
    const seen: string[] = [];
    const expectError = async (query: Promise<unknown>, code: string) =>
      assert.rejects(query, (error: pg.DatabaseError) => {
        seen.push(JSON.stringify({ message: error.message, detail: error.detail }));
        assert.equal(error.code, code, error.message);
        return true;
      });
    try {
      seen.push(JSON.stringify((await client.query('SELECT * FROM customers ORDER BY id')).rows));
      seen.push(JSON.stringify((await client.query(`SELECT id FROM customers WHERE email = '${PII.email}' OR card IN ('${PII.visa}', '${PII.mastercard}')`)).rows));
      await client.query(`UPDATE customers SET note = 'call ${PII.usPhone}' WHERE ssn = '${PII.ssn}'`);
      seen.push(JSON.stringify((await client.query('SELECT id, note FROM customers WHERE email = $1 OR card = $2 OR phone = $3', [PII.otherEmail, PII.amex, PII.phone])).rows));
      // Errors whose text quotes the value: a failed cast, a unique violation, SQL that does not parse.
      await expectError(client.query(`SELECT '${PII.otherEmail}'::int`), '22P02');
      await expectError(client.query(`INSERT INTO customers (id, email) VALUES (9, '${PII.email}')`), '23505');
      await expectError(client.query(`SELECT 1 '${PII.iban}'`), '42501');
      // Refused by policy (DDL), with PII in the statement.
      await expectError(client.query(`CREATE TABLE leak_copy AS SELECT '${PII.otherSsn}' AS ssn, '${PII.amex}' AS card`), '42501');
      // Held for approval (an UPDATE without WHERE), then denied: the request and its decision are stored and exported.
      const held = client.query(`UPDATE customers SET note = 'write to ${PII.otherEmail} or ${PII.phone}'`).catch((error: Error) => error);
      await denyOnlyApproval(await token('vera', 'approvers'));
      assert.ok((await held) instanceof Error, 'the held statement is refused once denied');
    } finally {
      await client.end();
    }

    const shellToken = await token('bo');
    const printed = await ssh.run(shellToken, 'host', `cat ${piiFile}`);
    assert.equal(printed.code, 0, printed.stderr);
    const echoed = await ssh.run(shellToken, 'host', `echo ${PII.email} ${PII.visa} ${PII.ssn}`);
    assert.equal(echoed.code, 0, echoed.stderr);
    const refused = await ssh.run(shellToken, 'host', `curl -d 'card=${PII.mastercard}&phone=${PII.usPhone}' http://127.0.0.1:9/`);
    assert.equal(refused.code, 126, `curl is refused: ${refused.stderr}`);
    const unparsable = await ssh.run(shellToken, 'host', `echo 'unterminated ${PII.otherEmail} ${PII.iban}`);
    assert.equal(unparsable.code, 126, `a command that does not parse is refused: ${unparsable.stderr}`);
    const shell = await ssh.run(shellToken, 'host', '', { tty: true, input: `cat ${piiFile}\necho typed ${PII.otherSsn} ${PII.phone} ${PII.amex}\nexit\n` });
    assert.equal(shell.code, 0, shell.stderr);
    seen.push(printed.stdout, echoed.stdout, refused.stderr, unparsable.stderr, shell.stdout);

    // Clients see only masked values too (the e2e tests prove it in detail); the markers show the PII went through.
    const clientHits = new LeakScan(piiNeedles());
    clientHits.scan('client', 'everything the clients received', Buffer.from(seen.join('\n')));
    assert.deepEqual(clientHits.hits, [], 'clients received only masked values');
    assert.match(seen.join('\n'), /\[masked:email\].*\[masked:credit-card …6467\]/s);

    await warden.ledger(); // integrate everything and sign a checkpoint, so the export holds all of it
    bundle = join(dir, 'bundle.tar.gz');
    const exported = await warden.cli(['export', '--from', '1h', '--out', bundle, '--json']);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal((JSON.parse(exported.stdout) as { verified: boolean }).verified, true, 'the bundle verifies');
  });

  it('leaves no PII value and no upstream credential in the store, the state directory, the logs or the bundle', async () => {
    const keyText = await readFile(sshd.clientKeyPath, 'utf8');
    const scan = new LeakScan([
      ...piiNeedles(),
      ...needlesFor('PostgreSQL password', db.password),
      ...needlesFor('SSH private key file', keyText),
      ...binaryNeedles('SSH private key seed', ed25519Seed(keyText)),
    ]);

    const running = await warden.running();
    for await (const item of storeItems(createDynamoClient({ endpoint: running.storeEndpoint!, region: 'us-east-1' }))) scan.scan('store items (DynamoDB API)', item.where, item.bytes);
    for await (const file of filesUnder(warden.dir)) scan.scan(placeOf(relative(warden.dir, file.where)), file.where, file.bytes);
    scan.scan('warden up output', 'stdout and stderr', Buffer.from(warden.output()));
    const archive = await readFile(bundle);
    const files = await unpackBundle(archive);
    for (const [path, bytes] of files) scan.scan('bundle files', path, bytes);
    scan.scan('bundle archive (tar, headers included)', bundle, gunzipSync(archive));
    assert.ok([...files.keys()].some((path) => path.startsWith('recordings/')), 'the bundle holds the shell recording');
    assert.ok((files.get('approvals.jsonl')?.length ?? 0) > 0, 'the bundle holds the approval request');

    const covered = scan.covered();
    console.log(`no-leaks: ${scan.needles.length} needles; scanned ${covered.map((c) => `${c.place}: ${c.items} items, ${c.bytes} bytes`).join('; ')}`);
    for (const place of ['store items (DynamoDB API)', 'store files on disk', 'recordings', 'warden up output', 'bundle files']) {
      assert.ok(covered.some((c) => c.place === place && c.bytes > 0), `${place} was scanned`);
    }
    assert.deepEqual(scan.hits, [], 'no PII value or upstream credential anywhere');
  });
});

function piiNeedles(): Needle[] {
  return Object.entries(PII).flatMap(([name, value]) => needlesFor(`PII ${name}`, value, spellingsOf(value)));
}

/** The 32-byte Ed25519 private seed: the end of the key's PKCS#8 DER. */
function ed25519Seed(keyText: string): Buffer {
  const parsed = ssh2.utils.parseKey(keyText);
  if (parsed instanceof Error) throw parsed;
  const pem = parsed.getPrivatePEM();
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64').subarray(-32);
}

/** LevelDB files are scanned as they are; a compressed table could hide a value from that, not from the API scan of every item. */
function placeOf(path: string): string {
  if (path.startsWith('state/store/')) return 'store files on disk';
  if (path.startsWith('state/evidence/recordings/')) return 'recordings';
  if (path.endsWith('.log')) return 'log files';
  return 'other files of warden up (config, keys, checkpoints, TLS)';
}
