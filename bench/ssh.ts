/**
 * SSH data-path benchmark: bulk output of an exec (`head -c N /dev/zero | tr` into text
 * lines) read through OpenSSH's ssh, directly from sshd and through Warden (decided,
 * recorded, masked), in the same run on one throwaway sshd. Also the time to run a
 * trivial command (connect, log in, exec, exit), both ways. Prints one table and writes
 * bench/results-ssh.json.
 *
 * With --profile DIR, warden up runs under V8's CPU profiler, and the CPU it spent on the bulk
 * runs is printed part by part (bench/lib/cpu-profile.ts), per MB of output; the .cpuprofile
 * files stay in DIR.
 *
 * Run: npm run bench:ssh [-- --megabytes 64 --runs 3 --profile /tmp/warden-ssh-profile]
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTestSshd } from '../test/helpers/sshd.js';
import { startTestWarden } from '../test/helpers/warden.js';
import { monotonicUs, printProcessProfile, readProcessProfile } from './lib/cpu-profile.js';

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '64' }, runs: { type: 'string', default: '3' }, profile: { type: 'string' } } });
const megabytes = Number(values.megabytes);
const runs = Number(values.runs);
// Text without values to mask: 63 characters and a newline per line, like log output.
const bulkCommand = `head -c ${megabytes * 1024 * 1024} /dev/zero | tr '\\0' 'x' | fold -w 63`;

/** Runs ssh, counts stdout bytes, returns seconds. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/ssh', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`ssh exited ${code}: ${stderr}`));
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const sshd = await startTestSshd();
const dir = await mkdtemp(join(tmpdir(), 'warden-bench-ssh-'));
const warden = await startTestWarden(
  { connections: { host: { kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyPath, hostKey: sshd.hostPublicKey } } },
  {},
  values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
);
const bulkWindow = { fromUs: 0, toUs: 0 };
let wardenPid = 0;
let wardenBulkBytes = 0;
try {
  wardenPid = (await warden.running()).pid;
  const running = await warden.running();
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${running.ssh!.port} ${running.ssh!.hostKey}\n`);
  const askpass = join(dir, 'askpass.sh');
  await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$WARDEN_BENCH_TOKEN"\n');
  await chmod(askpass, 0o700);
  const token = (await warden.cli(['token', '--as', 'bench'])).stdout.trim();
  const viaWarden = (command: string) => [
    '-F', '/dev/null', '-o', `Port=${running.ssh!.port}`, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PreferredAuthentications=keyboard-interactive,password', '-o', 'PubkeyAuthentication=no', 'host@127.0.0.1', command,
  ];
  const direct = (command: string) => sshd.sshArgs([`${sshd.user}@127.0.0.1`, command]);
  const env = { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_BENCH_TOKEN: token };

  const rows: { figure: string; direct: number; warden: number; unit: string }[] = [];
  const measure = async (args: (command: string) => string[], command: string) => {
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await timed(args(command), env));
    return samples;
  };
  const bulkDirect = await measure(direct, bulkCommand);
  bulkWindow.fromUs = monotonicUs();
  const bulkWarden = await measure(viaWarden, bulkCommand);
  bulkWindow.toUs = monotonicUs();
  wardenBulkBytes = bulkWarden.reduce((sum, sample) => sum + sample.bytes, 0);
  const rate = (samples: { seconds: number; bytes: number }[]) => median(samples.map((s) => s.bytes / s.seconds / 1e6));
  rows.push({ figure: `exec bulk output (${megabytes} MiB of text)`, direct: rate(bulkDirect), warden: rate(bulkWarden), unit: 'MB/s' });
  const quickDirect = await measure(direct, 'true');
  const quickWarden = await measure(viaWarden, 'true');
  rows.push({ figure: 'connect, log in, exec `true`, exit', direct: median(quickDirect.map((s) => s.seconds * 1000)), warden: median(quickWarden.map((s) => s.seconds * 1000)), unit: 'ms' });

  console.log(`SSH through Warden vs direct sshd (median of ${runs} runs; OpenSSH client, loopback)`);
  console.log('figure'.padEnd(44), 'direct'.padStart(10), 'warden'.padStart(10), 'unit'.padStart(6), 'warden/direct'.padStart(14));
  for (const row of rows) {
    console.log(row.figure.padEnd(44), row.direct.toFixed(1).padStart(10), row.warden.toFixed(1).padStart(10), row.unit.padStart(6), (row.warden / row.direct).toFixed(2).padStart(14));
  }
  await writeFile(new URL('results-ssh.json', import.meta.url), `${JSON.stringify({ megabytes, runs, rows }, null, 2)}\n`);
} finally {
  await warden.stop();
  await sshd.stop();
  await rm(dir, { recursive: true, force: true });
}

if (values.profile) {
  const profile = await readProcessProfile(values.profile, wardenPid, bulkWindow);
  const perMegabyte = (ms: number) => (ms * 1000) / (wardenBulkBytes / 1e6);
  console.log(`\nwarden up while the bulk output ran through it (profiled): ${profile.cpuMs.toFixed(0)} ms CPU for ${(wardenBulkBytes / 1e6).toFixed(0)} MB, ${perMegabyte(profile.cpuMs).toFixed(0)} µs per MB\n`);
  printProcessProfile(profile, { label: 'µs/MB', of: perMegabyte });
}
