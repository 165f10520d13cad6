import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/postgres.js';
import { runCli } from '../helpers/warden.js';
import { loadConfig } from '../../cli/config-file.js';

describe('warden CLI conventions', () => {
  let dir: string;
  const config = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints help with every command and exits 0', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['up', 'token', 'verify']) assert.match(result.stdout, new RegExp(`\\b${command}\\b`));
    const sub = await runCli(['token', '--help']);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /--as <name>/);
  });

  it('exits 2 on a usage error', async () => {
    assert.equal((await runCli(['no-such-command'])).code, 2);
    const missing = await runCli(['token']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--as/);
  });

  it('names the field and the fix for an invalid config, and exits 2', async () => {
    const path = await config('bad.yaml', 'connections:\n  app: { kind: postgres, host: h, database: d, user: u, port: "5432" }\nproxy: { postgress: {} }\n');
    const result = await runCli(['--config', path, 'up']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /connections\.app\.port: .*expected number/);
    assert.match(result.stderr, /proxy: Unrecognized key: "postgress"/);
    assert.match(result.stderr, /warden\.example\.yaml documents every field/);
  });

  it('asks a Kubernetes connection for exactly one credential, and an https server', async () => {
    const path = await config('kube.yaml', 'connections:\n  k: { kind: kubernetes, server: http://10.0.0.1:6443, tokenEnv: T, tokenFile: ./t }\n');
    const result = await runCli(['--config', path, 'up']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /connections\.k\.server: the API server's https:\/\/ URL/);
    assert.match(result.stderr, /connections\.k\.tokenEnv: set exactly one credential/);
  });

  it('points at the line of a YAML syntax error', async () => {
    const path = await config('syntax.yaml', 'connections:\n  app: [unclosed\n');
    const result = await runCli(['--config', path, 'verify']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /not valid YAML at line \d+/);
  });

  it('says which environment variable a connection password needs', async () => {
    const path = await config('env.yaml', `stateDir: state-env\nconnections:\n  app: { kind: postgres, host: 127.0.0.1, database: d, user: u, passwordEnv: WARDEN_TEST_UNSET_PASSWORD }\n`);
    const result = await runCli(['--config', path, 'up']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /connections\.app\.passwordEnv: the environment variable WARDEN_TEST_UNSET_PASSWORD is not set/);
  });

  it('exits 3 and says how to start the control plane when it is not running', async () => {
    const port = await freePort();
    const path = await config('down.yaml', `stateDir: state-down\ncontrolPlane: { listen: { port: ${port} } }\n`);
    const result = await runCli(['--config', path, 'token', '--as', 'alice']);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /cannot reach the Warden control plane .* start it with: npx warden up/);
    assert.equal(result.stdout, '', 'nothing on stdout, so PGPASSWORD=$(warden token …) stays empty');
  });

  it('accepts the documented example config', async () => {
    const loaded = await loadConfig(new URL('../../warden.example.yaml', import.meta.url).pathname);
    assert.deepEqual(Object.entries(loaded.config.connections).map(([name, c]) => [name, c.kind]), [['app', 'postgres'], ['web1', 'ssh'], ['prod-cluster', 'kubernetes']]);
    assert.equal(loaded.config.policy.file, undefined);
    assert.deepEqual(loaded.config.evidence.export, { intervalMinutes: 0, retentionDays: 365 });
  });

  it('refuses a missing config file that was named explicitly', async () => {
    const result = await runCli(['--config', join(dir, 'absent.yaml'), 'verify']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot read the config file/);
  });
});
