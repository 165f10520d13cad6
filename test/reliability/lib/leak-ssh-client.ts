/** OpenSSH's ssh through the Warden SSH gateway, logging in with a Warden token (given through SSH_ASKPASS). */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gatewayLoginOptions } from '../../helpers/sshd.js';

export interface SshRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface GatewaySsh {
  run(token: string, connection: string, remote: string, options?: { tty?: boolean; input?: string }): Promise<SshRun>;
  /** Ends any ssh still running, by PID. */
  stop(): void;
}

/** `dir` receives the askpass script and the gateway's known_hosts; `gateway` is what `warden up` reports in running(). */
export async function gatewaySsh(dir: string, gateway: { port: number; hostKey: string }): Promise<GatewaySsh> {
  const askpass = join(dir, 'askpass.sh');
  await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$WARDEN_TEST_TOKEN"\n');
  await chmod(askpass, 0o700);
  const knownHosts = join(dir, 'gateway_known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${gateway.port} ${gateway.hostKey}\n`);
  const running = new Set<ChildProcess>();
  const run: GatewaySsh['run'] = (token, connection, remote, { tty = false, input = '' } = {}) =>
    new Promise((resolve) => {
      const args = [...gatewayLoginOptions(gateway.port, knownHosts), ...(tty ? ['-tt'] : []), `${connection}@127.0.0.1`, ...(remote ? [remote] : [])];
      const child = spawn('/usr/bin/ssh', args, { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', WARDEN_TEST_TOKEN: token } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      running.add(child);
      child.once('exit', (code) => {
        running.delete(child);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input);
    });
  return {
    run,
    stop: () => {
      for (const child of running) if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    },
  };
}
