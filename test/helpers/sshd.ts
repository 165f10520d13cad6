/**
 * A throwaway OpenSSH server for tests: Debian's /usr/sbin/sshd in the foreground on a free
 * loopback port, with its own host key, one authorized client key and one stranger key, all in a
 * fresh temp dir. Only public-key logins, for the user running the tests.
 *
 * As root (the sandbox and CI) sshd privilege-separates: it needs the `sshd` user and the
 * /run/sshd chroot, which is created here when missing. As an ordinary user sshd skips that and
 * still works, but can log in only that same user, and keeps no login records.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './postgres.js';

const run = promisify(execFile);

const SSHD = '/usr/sbin/sshd';
const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SETPRIV = '/usr/bin/setpriv';
const READY_TIMEOUT_MS = 15_000;

export interface TestSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly pid: number;
  /** The user running the tests: the only one sshd can log in when not run as root. */
  readonly user: string;
  /** "ssh-ed25519 AAAA…", without comment. */
  readonly hostPublicKey: string;
  /** "SHA256:…", as `ssh-keygen -lf` prints it. */
  readonly hostKeyFingerprint: string;
  readonly clientKeyPath: string;
  /** "ssh-ed25519 AAAA…", without comment: the only authorized key. */
  readonly clientPublicKey: string;
  /** A key pair sshd does not accept (its public half is at `${strangerKeyPath}.pub`). */
  readonly strangerKeyPath: string;
  /** Pins [127.0.0.1]:port to the host key. */
  readonly knownHostsPath: string;
  /**
   * Options for ssh, scp and sftp that connect straight to this server with the client key and
   * nothing from ~/.ssh, followed by `extra` (destination, command, more options). The port is
   * passed as `-o Port=…` because ssh takes `-p` where scp and sftp take `-P`. ssh keeps the first
   * value it sees for each option, so `-o` in `extra` cannot override these: use `override`.
   */
  sshArgs(extra?: string[], override?: { identityPath?: string; knownHostsPath?: string }): string[];
  /** sshd's stderr so far (LogLevel VERBOSE). */
  logs(): string;
  /** SIGTERMs sshd and whatever it started (open connections and their sessions), then removes the temp dir. */
  stop(): Promise<void>;
}

export function sshAvailable(): boolean {
  return existsSync(SSHD) && existsSync(SSH);
}

interface Running {
  readonly child: ChildProcess;
  readonly dir: string;
}

const running = new Set<Running>();

// 'exit' does not fire when the test process dies of a signal; see also the pdeathsig below.
process.on('exit', () => {
  for (const { child, dir } of running) {
    if (child.pid !== undefined) signalAll([child.pid, ...descendants(child.pid)], 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Every live process below `root`, found through /proc (Linux). sshd's per-connection children
 * start their own sessions and outlive the listener, so killing the listener alone would leave
 * open connections and their commands running.
 */
function descendants(root: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const childrenOf = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name in parentheses may itself contain spaces and ')': the state and the
    // parent PID are the two fields after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const siblings = childrenOf.get(ppid) ?? [];
    siblings.push(Number(entry));
    childrenOf.set(ppid, siblings);
  }
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of childrenOf.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Without PAM, sshd refuses a user whose shadow password starts with '!'; only root can read it. */
async function lockedAccount(user: string): Promise<boolean> {
  const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '');
  const entry = shadow.split('\n').find((line) => line.startsWith(`${user}:`));
  return entry?.split(':')[1]?.startsWith('!') ?? false;
}

async function keyPair(path: string, comment: string): Promise<string> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  const [type, base64] = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/);
  return `${type} ${base64}`;
}

/** sshd_config values are split on whitespace unless quoted. */
function quoted(path: string): string {
  if (/["%\n]/.test(path)) throw new Error(`temp path unusable in sshd_config: ${path}`);
  return `"${path}"`;
}

function sshdConfig(dir: string, port: number, allowTcpForwarding: boolean): string {
  return [
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${quoted(join(dir, 'host_ed25519'))}`,
    `PidFile ${quoted(join(dir, 'sshd.pid'))}`,
    `AuthorizedKeysFile ${quoted(join(dir, 'authorized_keys'))}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'Subsystem sftp internal-sftp',
    `AllowTcpForwarding ${allowTcpForwarding ? 'yes' : 'no'}`,
    'X11Forwarding no',
    'PrintMotd no',
    'LogLevel VERBOSE',
    'MaxSessions 50',
    'MaxStartups 100:30:200',
    // No AcceptEnv: sessions get none of the client's environment.
    '',
  ].join('\n');
}

type Outcome = { ready: true } | { ready: false; reason: string };

/** Spawns sshd and waits for "Server listening on"; the child is in `running` from the start. */
async function launch(dir: string, port: number, stderr: { text: string }): Promise<{ entry: Running; outcome: Outcome }> {
  const sshdArgs = ['-D', '-e', '-f', join(dir, 'sshd_config')];
  // setpriv makes the kernel SIGTERM sshd if this test process dies without running 'exit' handlers.
  const [command, args] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'SIGTERM', '--', SSHD, ...sshdArgs]]
    : [SSHD, sshdArgs];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const entry = { child, dir };
  running.add(entry);
  child.once('exit', () => running.delete(entry));
  const listening = `Server listening on 127.0.0.1 port ${port}.`;
  const outcome = await new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => resolve({ ready: false, reason: `not listening after ${READY_TIMEOUT_MS} ms` }), READY_TIMEOUT_MS);
    const settle = (value: Outcome) => {
      clearTimeout(timer);
      resolve(value);
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr.text += chunk;
      if (stderr.text.includes(listening)) settle({ ready: true });
    });
    child.once('error', (error) => settle({ ready: false, reason: `could not start: ${error.message}` }));
    child.once('exit', (code, signal) => settle({ ready: false, reason: `exited (${signal ?? `code ${code}`})` }));
  });
  return { entry, outcome };
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

export async function startTestSshd(options: { allowTcpForwarding?: boolean } = {}): Promise<TestSshd> {
  const missing = [
    ...(existsSync(SSHD) ? [] : [`${SSHD} (Debian package openssh-server)`]),
    ...(existsSync(SSH) && existsSync(SSH_KEYGEN) ? [] : [`${SSH}, ${SSH_KEYGEN} (Debian package openssh-client)`]),
  ];
  if (missing.length > 0) throw new Error(`OpenSSH not installed: missing ${missing.join(' and ')}; .ci/run installs them`);
  const user = userInfo().username;
  if (await lockedAccount(user)) {
    throw new Error(`sshd (UsePAM no) would refuse ${user}: its /etc/shadow password starts with '!' (locked). Allow key logins with: usermod -p '*' ${user}`);
  }
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(join(tmpdir(), 'warden-sshd-'));
  try {
    const hostKeyPath = join(dir, 'host_ed25519');
    const clientKeyPath = join(dir, 'client_ed25519');
    const strangerKeyPath = join(dir, 'stranger_ed25519');
    const [hostPublicKey, clientPublicKey] = await Promise.all([
      keyPair(hostKeyPath, 'warden-test-host'),
      keyPair(clientKeyPath, 'warden-test-client'),
      keyPair(strangerKeyPath, 'warden-test-stranger'),
    ]);
    const { stdout: fingerprintLine } = await run(SSH_KEYGEN, ['-lf', `${hostKeyPath}.pub`]);
    const hostKeyFingerprint = fingerprintLine.split(' ')[1]!;
    await writeFile(join(dir, 'authorized_keys'), `${clientPublicKey}\n`, { mode: 0o600 });

    // freePort() closes its probe before sshd binds, so another process can take the port in
    // between; sshd then reports "Address already in use" and a fresh port is tried.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const knownHostsPath = join(dir, 'known_hosts');
      await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
      await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, port, options.allowTcpForwarding ?? true));
      const stderr = { text: '' };
      const { entry, outcome } = await launch(dir, port, stderr);
      if (!outcome.ready) {
        await terminate(entry.child, 'SIGKILL');
        running.delete(entry);
        if (attempt < 3 && stderr.text.includes('Address already in use')) continue;
        throw new Error(`sshd ${outcome.reason}; its stderr:\n${stderr.text.replaceAll('\r\n', '\n')}`);
      }
      const { child } = entry;
      const pid = child.pid!;
      let stopping: Promise<void> | undefined;
      return {
        host: '127.0.0.1',
        port,
        pid,
        user,
        hostPublicKey,
        hostKeyFingerprint,
        clientKeyPath,
        clientPublicKey,
        strangerKeyPath,
        knownHostsPath,
        sshArgs: (extra = [], override = {}) => [
          '-F', '/dev/null',
          '-i', override.identityPath ?? clientKeyPath,
          '-o', `Port=${port}`,
          '-o', `UserKnownHostsFile=${override.knownHostsPath ?? knownHostsPath}`,
          '-o', 'GlobalKnownHostsFile=/dev/null',
          '-o', 'StrictHostKeyChecking=yes',
          '-o', 'UpdateHostKeys=no',
          '-o', 'BatchMode=yes',
          '-o', 'IdentitiesOnly=yes',
          '-o', 'IdentityAgent=none',
          '-o', 'ConnectTimeout=10',
          ...extra,
        ],
        // sshd -e ends its lines with \r\n.
        logs: () => stderr.text.replaceAll('\r\n', '\n'),
        stop: () =>
          (stopping ??= (async () => {
            const family = descendants(pid);
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await terminate(child, 'SIGTERM');
            clearTimeout(timer);
            signalAll(family, 'SIGTERM');
            await rm(dir, { recursive: true, force: true });
          })()),
      };
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** OpenSSH options that log in to the Warden gateway on `port` with a Warden token as the password (given through SSH_ASKPASS), pinning its host key in `knownHosts`. */
export function gatewayLoginOptions(port: number, knownHosts: string): string[] {
  return [
    '-F', '/dev/null',
    '-o', `Port=${port}`,
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PreferredAuthentications=keyboard-interactive,password',
    '-o', 'PubkeyAuthentication=no',
    '-o', 'NumberOfPasswordPrompts=1',
    '-o', 'IdentityAgent=none',
  ];
}
