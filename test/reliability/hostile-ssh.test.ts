/**
 * Reliability: hostile SSH clients against the running `warden up` SSH gateway. Garbage instead
 * of the identification line, an over-long or endless one, random bytes or lying packet lengths
 * after a valid one, a key exchange abandoned half way or with no algorithm in common, and a
 * crowd of half-open connections: each is closed without taking the gateway down. A
 * well-behaved connection keeps running commands throughout, the real OpenSSH client still
 * logs in and runs a command afterwards, every command is in the ledger and `warden verify` passes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { gatewayLoginOptions, startTestSshd, type TestSshd } from '../helpers/sshd.js';
import { startTestWarden, type RunningTestWarden } from '../helpers/warden.js';
import { seededRng } from './lib/hostile-pg-inputs.js';
import { openProbe, probeSsh, sendAndWait, sshPacket, type OpenProbe, type SshProbeResult } from './lib/hostile-ssh-probe.js';
import { SteadySshSession } from './lib/hostile-steady-ssh.js';

const BANNER = Buffer.from('SSH-2.0-hostile_1.0\r\n');
const SSH_MSG_KEXINIT = 20;
const HALF_OPEN = 60;

describe('hostile SSH clients against warden up', () => {
  let sshd: TestSshd;
  let warden: RunningTestWarden;
  let steady: SteadySshSession;
  let token: string;
  let dir: string;
  const sent: Record<string, number> = {};

  /** One hostile input; the server must close the connection itself unless the client hangs up. */
  const attack = async (kind: string, bytes: Buffer, options: { hangUp?: boolean } = {}): Promise<SshProbeResult> => {
    sent[kind] = (sent[kind] ?? 0) + 1;
    const result = await probeSsh(warden.sshPort, bytes, options);
    assert.ok(result.closedByServer, `${kind}: the gateway closed the connection`);
    assert.match(result.received.toString('latin1'), /^SSH-2\.0-Warden\r\n/, `${kind}: the gateway identified itself first`);
    await steady.round(`after ${kind}`);
    return result;
  };

  before(async () => {
    sshd = await startTestSshd();
    dir = await mkdtemp(join(tmpdir(), 'warden-hostile-ssh-'));
    const host = { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey };
    warden = await startTestWarden({ connections: { host } });
    const issued = await warden.cli(['token', '--as', 'steady', '--groups', 'eng']);
    assert.equal(issued.code, 0, issued.stderr);
    token = issued.stdout.trim();
    steady = await SteadySshSession.open(warden.sshPort, 'host', token);
    await steady.round('before any attack');
  });

  after(async () => {
    if (process.env.DEBUG_WARDEN) console.error(warden?.output());
    console.error(`hostile-ssh: inputs sent by kind ${JSON.stringify(sent)}; well-behaved rounds ${steady?.rounds}`);
    steady?.end();
    await warden?.stop();
    await sshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('closes connections that send something else than an SSH identification line', async () => {
    await attack('HTTP request instead of the banner', Buffer.from('GET / HTTP/1.1\r\nHost: gateway\r\n\r\n'));
    await attack('SSH-1.5 banner', Buffer.from('SSH-1.5-old\r\n'));
    await attack('endless banner of 100 kB', Buffer.from(`SSH-2.0-${'A'.repeat(100_000)}`));
    const rng = seededRng(0x55_4a);
    for (let i = 0; i < 10; i++) await attack('random bytes instead of the banner', Buffer.concat([Buffer.from([0x80 | rng.int(0, 127)]), rng.bytes(rng.int(1, 400)), Buffer.from('\r\n')]));
  });

  it('survives an over-long identification line, and closes it when the client hangs up', async () => {
    await attack('banner of 300 characters', Buffer.from(`SSH-2.0-${'A'.repeat(300)}\r\n`), { hangUp: true });
  });

  it('closes connections whose first packets after a valid banner are garbage or lie about their length', async () => {
    const rng = seededRng(0x55_4b);
    for (let i = 0; i < 10; i++) await attack('random bytes after the banner', Buffer.concat([BANNER, rng.bytes(rng.int(16, 600))]));
    await attack('packet length 0xffffffff', Buffer.concat([BANNER, sshPacket(Buffer.from([SSH_MSG_KEXINIT]), 0xffff_ffff)]));
    await attack('packet length 0', Buffer.concat([BANNER, sshPacket(Buffer.alloc(0), 0)]));
    await attack('packet length 1 MiB', Buffer.concat([BANNER, sshPacket(Buffer.from([SSH_MSG_KEXINIT]), 1 << 20)]));
    await attack('truncated packet, then a hang-up', Buffer.concat([BANNER, Buffer.from([0, 0, 1])]), { hangUp: true });
    await attack('KEXINIT with a truncated name-list', Buffer.concat([BANNER, sshPacket(Buffer.concat([Buffer.from([SSH_MSG_KEXINIT]), Buffer.alloc(16), Buffer.from([0, 0, 0x10, 0]), Buffer.from('curve')]))]));
  });

  it('lets clients abandon the key exchange half way, or fail it for want of a common algorithm', async () => {
    for (let i = 0; i < 5; i++) {
      sent['disconnect mid-kex'] = (sent['disconnect mid-kex'] ?? 0) + 1;
      const probe = await openProbe(warden.sshPort);
      probe.socket.write(BANNER);
      // The gateway's banner and KEXINIT, then the client vanishes without a word.
      await probe.receivedAtLeast(200);
      probe.socket.destroy();
    }
    sent['no common kex algorithm'] = 1;
    const client = new ssh2.Client();
    const failure = await new Promise<Error>((resolve, reject) => {
      client.once('error', resolve).once('ready', () => reject(new Error('a handshake with no common algorithm succeeded')));
      client.connect({ host: '127.0.0.1', port: warden.sshPort, username: 'host', password: token, hostVerifier: () => true, algorithms: { kex: ['diffie-hellman-group1-sha1'] } });
    });
    client.end();
    assert.match(failure.message, /no matching key exchange algorithm/);
    await steady.round('after abandoned key exchanges');
  });

  it(`still logs in the real OpenSSH client while ${HALF_OPEN} half-open connections hang, then closes them cleanly`, async () => {
    const idle: OpenProbe[] = [];
    for (let i = 0; i < HALF_OPEN; i++) {
      const probe = await openProbe(warden.sshPort);
      // Half say nothing at all, half stop after their banner.
      if (i % 2 === 1) probe.socket.write(BANNER);
      idle.push(probe);
    }
    sent['half-open connection'] = HALF_OPEN;
    await steady.round('while connections hang');
    const result = await openSsh('echo hello through the crowd');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'hello through the crowd');
    await Promise.all(idle.map((probe) => sendAndWait(probe, Buffer.alloc(0), { hangUp: true })));
    assert.ok(idle.every((probe) => probe.socket.destroyed), 'every half-open connection was closed');
    await steady.round('after the crowd left');
  });

  it('afterwards: every well-behaved command is in the ledger, warden verify passes, and the gateway is up', async () => {
    await steady.round('at the end');
    const again = await openSsh('echo still here');
    assert.equal(again.stdout.trim(), 'still here', again.stderr);
    const entries = (await warden.ledger()).map((stored) => JSON.parse(stored.entry) as LedgerEntry);
    assert.deepEqual(steady.missingFrom(entries), [], 'every well-behaved exec is in the ledger');
    const verified = await warden.cli(['verify', '--json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const { pid } = await warden.running();
    assert.doesNotThrow(() => process.kill(pid, 0), 'warden up is still running');
  });

  /** The real OpenSSH client through the gateway, with the Warden token as its password. */
  async function openSsh(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const running = await warden.running();
    const knownHosts = join(dir, 'known_hosts');
    const askpass = join(dir, 'askpass.sh');
    await writeFile(knownHosts, `[127.0.0.1]:${running.ssh!.port} ${running.ssh!.hostKey}\n`);
    await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$WARDEN_TEST_TOKEN"\n');
    await chmod(askpass, 0o700);
    return new Promise((resolve) => {
      const child = spawn('/usr/bin/ssh', [...gatewayLoginOptions(warden.sshPort, knownHosts), '-o', 'ConnectTimeout=20', 'host@127.0.0.1', command], {
        env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_TEST_TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }
});
