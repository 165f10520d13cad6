/**
 * End to end: the OpenSSH client (ssh, scp, sftp) through `warden up` to a real sshd on
 * loopback. Every exec is decided and recorded before it runs, output is masked, shells are
 * recorded as asciicast v2, file transfers are decided per operation, forwarding is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { DEFAULT_POLICY_FILE } from '../../functions/lib/policy-files.js';
import { parseAsciicast } from '../../proxy-fleet/ssh/asciicast.js';
import { gatewayLoginOptions, startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';

const CARD = '4111 1111 1111 1111';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('SSH through warden up', () => {
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let dir: string;
  let gatewayKnownHosts: string;
  let askpass: string;

  const token = async (name = 'alice', groups = 'eng') => {
    const result = await warden.cli(['token', '--as', name, '--groups', groups]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  /** OpenSSH options that log in to the gateway with a Warden token as the password (through SSH_ASKPASS). */
  const gatewayOptions = (port = warden.sshPort) => gatewayLoginOptions(port, gatewayKnownHosts);
  const run = (program: string, args: string[], password: string, input?: string): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(program, args, { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_TEST_TOKEN: password } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input ?? '');
    });
  const ssh = (password: string, remote: string, extra: string[] = [], connection = 'host', input?: string) =>
    run('/usr/bin/ssh', [...gatewayOptions(), ...extra, `${connection}@127.0.0.1`, ...(remote ? [remote] : [])], password, input);
  const entries = async () => (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);

  before(async () => {
    sshd = await startTestSshd();
    dir = await mkdtemp(join(tmpdir(), 'warden-ssh-'));
    askpass = join(dir, 'askpass.sh');
    await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$WARDEN_TEST_TOKEN"\n');
    await chmod(askpass, 0o700);
    await writeFile(
      join(dir, 'policies.cedar'),
      `${await readFile(DEFAULT_POLICY_FILE, 'utf8')}
@id("no-rm") @reason("rm is not allowed through the gateway")
forbid (principal, action == Warden::Action::"ssh:exec", resource) when { context.programs.contains("rm") };

@id("shells-and-files") permit (principal, action in [Warden::Action::"ssh:shell", Warden::Action::"ssh:sftp"], resource);

@id("no-secret-files") @reason("files named secret* stay on the host")
forbid (principal, action == Warden::Action::"ssh:sftp", resource) when { context has path && context.path like "*secret*" };

@id("forward-to-sshd-only") permit (principal, action == Warden::Action::"ssh:forward", resource)
when { context has targetPort && context.targetPort == ${sshd.port} };
`,
    );
    const host = { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey };
    warden = await startTestWarden({
      connections: { host, 'wrong-key': { ...host, hostKey: readFileSync(`${sshd.strangerKeyPath}.pub`, 'utf8') } },
      policy: { file: join(dir, 'policies.cedar') },
    });
    const running = await warden.running();
    assert.ok(running.ssh, 'warden up reports the SSH gateway');
    gatewayKnownHosts = join(dir, 'known_hosts');
    await writeFile(gatewayKnownHosts, `[127.0.0.1]:${running.ssh.port} ${running.ssh.hostKey}\n`);
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    await warden?.stop();
    await sshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs an exec through the gateway, passes the exit status back, and records it before it runs', async () => {
    const result = await ssh(await token(), 'echo hello from $(hostname); exit 7');
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^hello from /);
    const mine = (await entries()).filter((entry) => entry.data.kind === 'ssh.exec' || (entry.type === 'command.result' && entry.data.exitStatus !== undefined));
    const command = mine.find((entry) => entry.type === 'command' && String(entry.data.text).startsWith('echo hello'));
    assert.ok(command, 'the exec is a command entry');
    assert.equal(command.data.decision, 'allow');
    assert.deepEqual(command.data.programs, ['echo', 'exit', 'hostname']);
    const result7 = mine.find((entry) => entry.type === 'command.result' && entry.session === command.session);
    assert.equal(result7?.data.exitStatus, 7);
  });

  it('refuses a denied exec with the reason on stderr and exit status 126; nothing runs', async () => {
    const marker = join(dir, 'still-here');
    await writeFile(marker, 'x');
    const result = await ssh(await token(), `rm -f ${marker}`);
    assert.equal(result.code, 126);
    assert.match(result.stderr, /warden: denied: rm is not allowed through the gateway \(policy no-rm\) \(ledger entry b\d+\.\d+\)/);
    assert.equal(await readFile(marker, 'utf8'), 'x', 'the file is still there');
  });

  it('masks PII in exec output, across any chunking, keeping multibyte text whole', async () => {
    const result = await ssh(await token(), `printf 'card ${CARD}\\n'; for i in $(seq 1 3000); do echo "user$i@example.com 漢字 é"; done`);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(CARD.replaceAll(' ', '')) && !result.stdout.includes(CARD), 'the card number is masked');
    assert.ok(!/user\d+@example\.com/.test(result.stdout), 'no email gets through');
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 3001);
    assert.ok(lines.slice(1).every((line) => line.endsWith(' 漢字 é')), 'multibyte characters arrive whole');
    const counts = (await entries()).filter((entry) => entry.type === 'command.result' && entry.data.bytesOut !== undefined).map((entry) => entry.data.masked as Record<string, number>);
    assert.ok(counts.some((masked) => masked.email === 3000), JSON.stringify(counts));
  });

  it('records an interactive shell as asciicast v2, masked, with its digest in the ledger and typed lines captured', async () => {
    const result = await ssh(await token('bob'), '', ['-tt'], 'host', `echo typed ${CARD}\nexit\n`);
    assert.equal(result.code, 0, result.stderr);
    const all = await entries();
    const recorded = all.find((entry) => entry.type === 'command.result' && entry.identity.sub === 'bob' && entry.data.recording);
    assert.ok(recorded, 'the shell result names its recording');
    const recording = recorded.data.recording as { path: string; sha256: string; bytes: number };
    const file = await readFile(recording.path);
    assert.equal(createHash('sha256').update(file).digest('hex'), recording.sha256);
    const cast = parseAsciicast(file.toString('utf8'));
    const output = cast.events.filter(([, code]) => code === 'o').map(([, , data]) => data).join('');
    assert.match(output, /typed/);
    assert.ok(!output.includes(CARD), 'the recording is masked');
    assert.ok(cast.events.some(([, code]) => code === 'i'), 'input is recorded');
    const line = all.find((entry) => entry.data.kind === 'ssh.line' && entry.identity.sub === 'bob');
    assert.ok(line, 'the typed line is captured');
    assert.match(String(line.data.text), /^echo typed/);
    assert.ok(!String(line.data.text).includes('4111'), 'the captured line is masked too');
    assert.equal(line.data.enforced, false);
  });

  it('keeps terminal resizes in the recording (an ssh2 client sends window-change)', async () => {
    const password = await token('dana');
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject);
      client.connect({ host: '127.0.0.1', port: warden.sshPort, username: 'host', password, hostVerifier: () => true });
    });
    await new Promise<void>((resolve, reject) => {
      client.shell({ term: 'xterm', rows: 24, cols: 80 }, (error, stream) => {
        if (error) return reject(error);
        stream.on('close', () => resolve());
        stream.resume();
        stream.stderr.resume();
        setTimeout(() => {
          stream.setWindow(50, 132, 0, 0);
          setTimeout(() => stream.end('exit\n'), 300);
        }, 500);
      });
    });
    client.end();
    const recorded = (await entries()).find((entry) => entry.type === 'command.result' && entry.identity.sub === 'dana' && entry.data.recording);
    assert.ok(recorded, 'the shell was recorded');
    const cast = parseAsciicast(await readFile((recorded.data.recording as { path: string }).path, 'utf8'));
    assert.deepEqual((cast.header as { width: number; height: number }).width, 80);
    assert.ok(cast.events.some(([, code, data]) => code === 'r' && data === '132x50'), 'the resize is kept');
  });

  it('decides sftp and scp file operations, recording names and sizes', async () => {
    const local = join(dir, 'report.txt');
    await writeFile(local, 'x'.repeat(12_345));
    const remoteDir = await mkdtemp(join(tmpdir(), 'warden-sftp-target-'));
    const password = await token();
    const batch = `put ${local} ${remoteDir}/report.txt\nput ${local} ${remoteDir}/secret.txt\nbye\n`;
    // Commands on stdin, not -b: batch mode would also forbid the password prompt.
    const sftp = await run('/usr/bin/sftp', [...gatewayOptions(), 'host@127.0.0.1'], password, batch);
    assert.match(sftp.stderr, /secret\.txt.*(Permission denied|denied)/is, sftp.stderr);
    assert.equal((await readFile(join(remoteDir, 'report.txt'))).length, 12_345);
    await assert.rejects(readFile(join(remoteDir, 'secret.txt')), { code: 'ENOENT' });
    const scp = await run('/usr/bin/scp', [...gatewayOptions(), local, `host@127.0.0.1:${remoteDir}/copied.txt`], password);
    assert.equal(scp.code, 0, scp.stderr);
    assert.equal((await readFile(join(remoteDir, 'copied.txt'))).length, 12_345);

    const all = await entries();
    // The ledger reads back by session; the order across sessions is not the order of events.
    const writes = all.filter((entry) => entry.data.kind === 'ssh.sftp' && entry.data.operation === 'open-write');
    assert.deepEqual(
      writes.map((entry) => [entry.data.path, entry.data.decision]).sort(),
      [
        [`${remoteDir}/copied.txt`, 'allow'],
        [`${remoteDir}/report.txt`, 'allow'],
        [`${remoteDir}/secret.txt`, 'deny'],
      ],
    );
    const sizes = all.filter((entry) => entry.type === 'command.result' && entry.data.bytesIn === 12_345);
    assert.equal(sizes.length, 2, 'both allowed uploads are recorded with their size');
    await rm(remoteDir, { recursive: true, force: true });
  });

  it('refuses port forwarding unless policy allows it', async () => {
    const password = await token();
    const refused = await ssh(password, '', ['-W', '127.0.0.1:5432']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /open failed|administratively prohibited|Connection refused/i);
    const allowed = await ssh(password, '', ['-W', `127.0.0.1:${sshd.port}`], 'host', 'SSH-2.0-probe\r\n');
    assert.match(allowed.stdout, /^SSH-2\.0-OpenSSH/);
    const forwards = (await entries()).filter((entry) => entry.data.kind === 'ssh.forward').map((entry) => [entry.data.port, entry.data.decision]);
    assert.deepEqual(
      forwards.sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [5432, 'deny'],
        [sshd.port, 'allow'],
      ].sort((a, b) => Number(a[0]) - Number(b[0])),
    );
  });

  it('holds an exec for approval with a message on stderr, and runs it once approved', async () => {
    const pending = ssh(await token('alice'), "bash -c 'echo ran after approval'");
    const bob = await token('bob', 'approvers');
    let id: string | undefined;
    for (let attempt = 0; attempt < 40 && !id; attempt++) {
      const listed = JSON.parse((await warden.cli(['approvals', '--json', '--token', bob])).stdout || '[]') as { id: string }[];
      id = listed[0]?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(id, 'the held exec is an approval request');
    assert.equal((await warden.cli(['approve', id, '--reason', 'looked at it', '--token', bob])).code, 0);
    const result = await pending;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`warden: waiting for approval ${id} \\(http`));
    assert.equal(result.stdout, 'ran after approval\n');
  });

  it('ends a running SSH session within 5 s when its chain is revoked', async () => {
    const password = await token('carol');
    const chain = JSON.parse((await warden.cli(['whoami', '--token', password, '--json'])).stdout) as { chain: string };
    const running = ssh(password, 'sleep 60');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await warden.cli(['revoke', '--chain', chain.chain, '--reason', 'agent misbehaved'])).code, 0);
    // Timed from when the revocation is stored (the CLI has returned), not from starting the CLI.
    const revokedAt = Date.now();
    const result = await running;
    assert.ok(Date.now() - revokedAt <= 5000, `ended ${Date.now() - revokedAt} ms after the revocation`);
    assert.notEqual(result.code, 0);
  });

  it('refuses a bad token, and a host whose key is not the pinned one', async () => {
    const bad = await ssh('not-a-token', 'echo hi');
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /Permission denied/);
    const wrongKey = await ssh(await token(), 'echo hi', [], 'wrong-key');
    assert.equal(wrongKey.code, 255);
    assert.match(wrongKey.stderr, /presented a key that is not the pinned hostKey/);
  });
});

