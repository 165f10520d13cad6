/**
 * End to end: `warden export` writes a bundle from a live `warden up` (the demo database, a real
 * sshd with a recorded shell, an approval, a grant), and `warden verify BUNDLE --key` checks it
 * offline. Each kind of tampering an auditor must catch is tried on a copy of the bundle.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import ssh2 from 'ssh2';
import { packBundle, unpackBundle } from '../../core/evidence/archive.js';
import { BundlePaths, manifestNoteText, type Manifest } from '../../core/evidence/bundle.js';
import type { BundleReport } from '../../core/evidence/verify-bundle.js';
import { formatCheckpoint, parseCheckpoint } from '../../core/ledger/checkpoint.js';
import { generateNoteKey, openNote, parseSignerKey, parseVerifierKey, signNote } from '../../core/ledger/signed-note.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { runCli, startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const EMAIL_IN_DEMO = /@example\.(com|org|net)/;

describe('evidence export and offline verification', () => {
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let dir: string;
  let bundle: string;
  let vkey: string;
  let vkeyFile: string;

  const token = async (name: string, groups = 'eng') => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  /** `warden verify BUNDLE` as an auditor runs it: no config, no state, only the bundle and the key. */
  const verify = async (path: string) => {
    const result = await runCli(['verify', path, '--key', vkeyFile, '--json'], { ...process.env, WARDEN_CONFIG: '' });
    return { code: result.code, report: JSON.parse(result.stdout || '{}') as BundleReport, stderr: result.stderr };
  };
  const failed = (report: BundleReport) => report.checks.filter((check) => !check.ok).map((check) => check.name);
  /** A copy of the bundle with `change` applied to its files, packed again. */
  const tampered = async (name: string, change: (files: Map<string, Buffer>) => void | Promise<void>) => {
    const files = await unpackBundle(await readFile(bundle));
    await change(files);
    const path = join(dir, `${name}.tar.gz`);
    await writeFile(path, await packBundle(files, new Date()));
    return path;
  };
  const editLines = (files: Map<string, Buffer>, path: string, edit: (lines: string[]) => string[]) => {
    const lines = files.get(path)!.toString('utf8').split('\n').filter((line) => line !== '');
    files.set(path, Buffer.from(edit(lines).map((line) => `${line}\n`).join('')));
  };

  before(async () => {
    sshd = await startTestSshd();
    dir = await mkdtemp(join(tmpdir(), 'warden-evidence-'));
    await writeFile(join(dir, 'policies.cedar'), `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}\n@id("shells") permit (principal, action == Warden::Action::"ssh:shell", resource);\n`);
    warden = await startTestWarden({
      demo: 'always',
      connections: { host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey } },
      policy: { file: join(dir, 'policies.cedar') },
    });
    vkeyFile = join(dir, 'log.vkey');
    await copyFile(join(warden.dir, 'state', 'keys', 'log.vkey'), vkeyFile);
    vkey = (await readFile(vkeyFile, 'utf8')).trim();

    // Activity: masked reads, a refused statement, a held one an approver denies, a grant, a recorded shell.
    const client = new pg.Client({ host: '127.0.0.1', port: warden.proxyPort, user: 'alice', database: 'demo', password: await token('alice') });
    await client.connect();
    await client.query('SELECT email FROM customers');
    await assert.rejects(client.query('DROP TABLE orders'));
    const held = client.query('DELETE FROM orders').catch((error: Error) => error);
    const bob = await token('bob', 'approvers');
    let id: string | undefined;
    for (let attempt = 0; attempt < 40 && !id; attempt++) {
      id = (JSON.parse((await warden.cli(['approvals', '--json', '--token', bob])).stdout || '[]') as { id: string }[])[0]?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(id);
    assert.equal((await warden.cli(['deny', id, '--reason', 'not during business hours', '--token', bob])).code, 0);
    assert.ok((await held) instanceof Error);
    await client.end();
    assert.equal((await warden.cli(['grant', 'request', '--connection', 'demo', '--role', 'writer', '--for', '30m', '--why', 'ticket OPS-1', '--token', await token('carol')])).code, 0);
    const shell = new ssh2.Client();
    const dana = await token('dana');
    await new Promise<void>((resolve, reject) => {
      shell.once('ready', () => resolve()).once('error', reject);
      shell.connect({ host: '127.0.0.1', port: warden.sshPort, username: 'host', password: dana, hostVerifier: () => true });
    });
    await new Promise<void>((resolve, reject) =>
      shell.shell({ term: 'xterm', rows: 24, cols: 80 }, (error, stream) => {
        if (error) return reject(error);
        stream.on('close', () => resolve()).resume();
        stream.stderr.resume();
        setTimeout(() => stream.end('echo recorded; exit\n'), 300);
      }),
    );
    shell.end();
    // Results are reported after the fact; give the last one a moment to be durable.
    await new Promise((resolve) => setTimeout(resolve, 500));

    bundle = join(dir, 'bundle.tar.gz');
    const exported = await warden.cli(['export', '--from', '1h', '--out', bundle, '--json']);
    assert.equal(exported.code, 0, exported.stderr);
  });

  after(async () => {
    await warden?.stop();
    await sshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exports a bundle that verifies offline with only the public key', async () => {
    const { code, report } = await verify(bundle);
    assert.equal(code, 0, JSON.stringify(report.checks));
    assert.deepEqual(failed(report), []);
    assert.equal(report.checks.length, 8);
    const files = await unpackBundle(await readFile(bundle));
    for (const path of [BundlePaths.manifest, BundlePaths.checkpoint, BundlePaths.entries, BundlePaths.proofs, BundlePaths.approvals, BundlePaths.grants, BundlePaths.masking, BundlePaths.report, BundlePaths.fingerprint]) {
      assert.ok(files.has(path), `${path} is in the bundle`);
    }
    assert.ok([...files.keys()].some((path) => path.startsWith(BundlePaths.recordings) && path.endsWith('.cast')), 'the shell recording is in the bundle');
    const entries = files.get(BundlePaths.entries)!.toString().trim().split('\n');
    assert.equal(entries.length, report.manifest!.entries.count);
    const approvals = files.get(BundlePaths.approvals)!.toString();
    assert.match(approvals, /not during business hours/);
    assert.ok(!approvals.includes('slackResponseUrl'));
    assert.match(files.get(BundlePaths.grants)!.toString(), /"role":"writer"/);
    assert.match(files.get(BundlePaths.masking)!.toString(), /"masked":\{"email":\d+/);
    const everything = [...files.values()].map((bytes) => bytes.toString('utf8')).join('\n');
    assert.ok(!EMAIL_IN_DEMO.test(everything), 'no unmasked email from the demo data anywhere in the bundle');
    const report_ = files.get(BundlePaths.report)!.toString();
    assert.match(report_, /Verified/);
    assert.match(report_, /8\.15/);
  });

  it('detects a changed entry', async () => {
    const path = await tampered('changed', (files) =>
      editLines(files, BundlePaths.entries, (lines) => lines.map((line) => (line.includes('\\"decision\\":\\"deny\\"') ? line.replace('\\"decision\\":\\"deny\\"', '\\"decision\\":\\"allow\\"') : line))),
    );
    const { code, report } = await verify(path);
    assert.equal(code, 1);
    assert.ok(failed(report).includes('file-digests'));
    assert.ok(failed(report).includes('entries-complete'), 'the edited entry no longer matches its hash');
  });

  it('detects a missing entry, even with its proof removed too', async () => {
    const path = await tampered('missing', (files) => {
      editLines(files, BundlePaths.entries, (lines) => lines.filter((_, i) => i !== 2));
      editLines(files, BundlePaths.proofs, (lines) => lines.filter((_, i) => i !== 2));
    });
    const { code, report } = await verify(path);
    assert.equal(code, 1);
    assert.ok(failed(report).includes('entries-complete'));
    assert.match(report.checks.find((check) => check.name === 'entries-complete')!.detail, /missing/);
  });

  it('detects a swapped recording', async () => {
    const path = await tampered('swapped', (files) => {
      const recording = [...files.keys()].find((name) => name.startsWith(BundlePaths.recordings))!;
      files.set(recording, Buffer.from(files.get(recording)!.toString().replace('recorded', 'innocent')));
    });
    const { code, report } = await verify(path);
    assert.equal(code, 1);
    assert.ok(failed(report).includes('recordings'));
  });

  it('detects an altered manifest, and one re-signed with another key', async () => {
    const files = await unpackBundle(await readFile(bundle));
    const manifest = JSON.parse(openNote(files.get(BundlePaths.manifest)!.toString(), [parseVerifierKey(vkey)]).text.split('\n')[1]!) as Manifest;
    const altered = await tampered('altered', (copy) => {
      const note = copy.get(BundlePaths.manifest)!.toString();
      copy.set(BundlePaths.manifest, Buffer.from(note.replace(`"treeSize":${manifest.treeSize}`, `"treeSize":${manifest.treeSize - 1}`)));
    });
    const first = await verify(altered);
    assert.equal(first.code, 1);
    assert.ok(failed(first.report).includes('manifest-signature'));

    const forger = parseSignerKey(generateNoteKey(manifest.origin).skey);
    const resigned = await tampered('resigned', async (copy) => {
      copy.set(BundlePaths.manifest, Buffer.from(await signNote(manifestNoteText({ ...manifest, entries: { ...manifest.entries, count: manifest.entries.count - 1 } }), [forger])));
    });
    const second = await verify(resigned);
    assert.equal(second.code, 1);
    assert.ok(failed(second.report).includes('manifest-signature'));
  });

  it('detects a checkpoint signed by another key', async () => {
    const path = await tampered('checkpoint', async (files) => {
      const checkpoint = parseCheckpoint(openNote(files.get(BundlePaths.checkpoint)!.toString(), [parseVerifierKey(vkey)]).text);
      const forger = parseSignerKey(generateNoteKey(checkpoint.origin).skey);
      files.set(BundlePaths.checkpoint, Buffer.from(await signNote(formatCheckpoint(checkpoint), [forger])));
    });
    const { code, report } = await verify(path);
    assert.equal(code, 1);
    assert.ok(failed(report).includes('checkpoint-signature'));
    assert.ok(failed(report).includes('inclusion-proofs'), 'nothing is proven against an unverified checkpoint');
  });

  it('refuses a bundle checked with another key, and says which key it was made for', async () => {
    const other = join(dir, 'other.vkey');
    await writeFile(other, `${generateNoteKey('someone-else').vkey}\n`);
    const result = await runCli(['verify', bundle, '--key', other], { ...process.env, WARDEN_CONFIG: '' });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAIL manifest-signature/);
  });
});
