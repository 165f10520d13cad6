/**
 * The throwaway sshd of test/helpers/sshd.ts, checked with the real OpenSSH client tools.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestSshd, type TestSshd } from '../../helpers/sshd.js';

const TIMEOUT = { timeout: 30_000 };

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client tool to completion, never throwing on a non-zero exit. */
function client(command: string, args: string[], input = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test sshd helper', TIMEOUT, () => {
  let sshd: TestSshd;
  let work: string;

  before(async () => {
    const started = performance.now();
    sshd = await startTestSshd();
    console.log(`sshd ready in ${Math.round(performance.now() - started)} ms on port ${sshd.port}`);
    work = await mkdtemp(join(tmpdir(), 'warden-sshd-test-'));
  });

  after(async () => {
    await sshd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const destination = () => `${sshd.user}@127.0.0.1`;

  it('describes its keys', () => {
    assert.match(sshd.hostPublicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    assert.match(sshd.clientPublicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    assert.match(sshd.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('runs a command and passes its exit status back', async () => {
    const result = await client('/usr/bin/ssh', sshd.sshArgs([destination(), 'echo hello; exit 7']));
    assert.equal(result.stdout, 'hello\n', result.stderr);
    assert.equal(result.code, 7, result.stderr);
    assert.match(sshd.logs(), new RegExp(`Accepted publickey for ${sshd.user} from 127\\.0\\.0\\.1`));
  });

  it('refuses the stranger key', async () => {
    const result = await client('/usr/bin/ssh', sshd.sshArgs([destination(), 'true'], { identityPath: sshd.strangerKeyPath }));
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied \(publickey\)/);
  });

  it('refuses a server whose host key is not the pinned one', async () => {
    const strangerPublicKey = (await readFile(`${sshd.strangerKeyPath}.pub`, 'utf8')).trim();
    const wrongKnownHosts = join(work, 'wrong_known_hosts');
    await writeFile(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${strangerPublicKey}\n`);
    const result = await client('/usr/bin/ssh', sshd.sshArgs([destination(), 'true'], { knownHostsPath: wrongKnownHosts }));
    assert.equal(result.code, 255);
    assert.match(result.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('puts and gets a file with sftp', async () => {
    const local = join(work, 'sftp-local.txt');
    const remote = join(work, 'sftp-remote.txt');
    const back = join(work, 'sftp-back.txt');
    await writeFile(local, 'over sftp\n');
    const result = await client('/usr/bin/sftp', sshd.sshArgs(['-b', '-', destination()]), `put ${local} ${remote}\nget ${remote} ${back}\n`);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(remote, 'utf8'), 'over sftp\n');
    assert.equal(await readFile(back, 'utf8'), 'over sftp\n');
  });

  it('copies a file with scp', async () => {
    const local = join(work, 'scp-local.txt');
    const remote = join(work, 'scp-remote.txt');
    await writeFile(local, 'over scp\n');
    const logged = sshd.logs().length;
    const result = await client('/usr/bin/scp', sshd.sshArgs([local, `${destination()}:${remote}`]));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(remote, 'utf8'), 'over scp\n');
    // OpenSSH 9 scp speaks SFTP by default.
    assert.match(sshd.logs().slice(logged), /Starting session: subsystem 'sftp'/);
  });

  it('stop() ends sshd, its open connections, and frees the port', async () => {
    const { port, pid } = sshd;
    const session = client('/usr/bin/ssh', sshd.sshArgs([destination(), 'echo started; exec sleep 300']));
    const deadline = Date.now() + 10_000;
    while (!sshd.logs().includes('Starting session: command')) {
      assert.ok(Date.now() < deadline, `session did not start:\n${sshd.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sshd.stop();
    const ended = await session;
    assert.equal(ended.code, 255, 'the open session is cut');
    assert.equal(alive(pid), false);
    assert.equal(await connectionRefused(port), true);
  });
});

describe('test sshd helper without TCP forwarding', TIMEOUT, () => {
  let sshd: TestSshd;

  before(async () => {
    sshd = await startTestSshd({ allowTcpForwarding: false });
  });

  after(() => sshd?.stop());

  it('refuses a direct-tcpip channel', async () => {
    const result = await client('/usr/bin/ssh', sshd.sshArgs(['-W', `127.0.0.1:${sshd.port}`, `${sshd.user}@127.0.0.1`]));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /administratively prohibited/);
  });
});
