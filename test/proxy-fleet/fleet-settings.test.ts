/** The proxy fleet process's settings: the environment over an optional warden.yaml, and refusals that name the variable. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../core/config.js';
import ssh2 from 'ssh2';
import { readFleetSettings } from '../../proxy-fleet/fleet-settings.js';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';
import { IDENTITY_PLACEHOLDER } from '../../infra/stacks/proxy-fleet-stack.js';

const URL_ONLY = { WARDEN_CONTROL_PLANE_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com/', WARDEN_PROXY_KEY: 'k' };

describe('readFleetSettings', () => {
  let dir: string;
  let file: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-fleet-settings-'));
    file = join(dir, 'warden.yaml');
    await writeFile(
      file,
      ['stateDir: state', 'proxy:', '  postgres: { host: 127.0.0.1, port: 6432, tls: { mode: "off" } }', 'connections:', '  app: { kind: postgres, host: db.internal, database: app, user: warden, passwordEnv: APP_PASSWORD }'].join('\n'),
    );
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('reads WARDEN_CONFIG as warden up reads it, and resolves its stateDir beside it', async () => {
    const settings = await readFleetSettings({ ...URL_ONLY, WARDEN_CONFIG: file });
    assert.deepEqual(Object.keys(settings.config.connections), ['app']);
    assert.deepEqual(settings.config.proxy.postgres, { host: '127.0.0.1', port: 6432, tls: { mode: 'off', require: false }, loginTimeoutSeconds: 60 });
    assert.equal(settings.configDir, dir);
    assert.equal(settings.stateDir, join(dir, 'state'));
    assert.equal(settings.controlPlaneUrl, 'https://abc123.execute-api.eu-west-1.amazonaws.com', 'without the trailing slash');
    assert.deepEqual(settings.auth, { kind: 'key', key: 'k' });
    assert.equal(settings.drainMs, 20_000);
  });

  it('takes the listeners, state directory and drain time from the environment, over the file', async () => {
    const settings = await readFleetSettings({
      ...URL_ONLY,
      WARDEN_CONFIG: file,
      WARDEN_LISTEN_HOST: '0.0.0.0',
      WARDEN_POSTGRES_PORT: '15432',
      WARDEN_SSH_PORT: '2222',
      WARDEN_KUBERNETES_PORT: '8443',
      WARDEN_STATE_DIR: '/tmp/warden-proxy',
      WARDEN_DRAIN_SECONDS: '100',
    });
    const { postgres, ssh, kubernetes } = settings.config.proxy;
    assert.deepEqual([postgres.host, postgres.port, postgres.tls.mode], ['0.0.0.0', 15432, 'off']);
    assert.deepEqual(ssh, { host: '0.0.0.0', port: 2222, loginTimeoutSeconds: 60 });
    assert.deepEqual(kubernetes, { host: '0.0.0.0', port: 8443 });
    assert.equal(settings.stateDir, '/tmp/warden-proxy');
    assert.equal(settings.drainMs, 100_000);
  });

  it('takes the configuration inline from WARDEN_CONFIG_YAML (JSON too), for a task with no file', async () => {
    const settings = await readFleetSettings({ ...URL_ONLY, WARDEN_CONFIG_YAML: JSON.stringify({ connections: { web: { kind: 'ssh', host: 'web.internal', user: 'deploy', privateKeyEnv: 'WEB_KEY', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl' } } }) });
    assert.equal(settings.config.connections.web?.kind, 'ssh');
  });

  it('signs with IAM in the task region when WARDEN_PROXY_AUTH=iam, and needs no key then', async () => {
    const { auth } = await readFleetSettings({ WARDEN_CONTROL_PLANE_URL: URL_ONLY.WARDEN_CONTROL_PLANE_URL, WARDEN_PROXY_AUTH: 'iam', AWS_REGION: 'eu-west-1' });
    assert.deepEqual(auth, { kind: 'iam', region: 'eu-west-1' });
  });

  it('keeps recordings on the task unless WARDEN_RECORDINGS=upload', async () => {
    assert.equal((await readFleetSettings(URL_ONLY)).uploadRecordings, false);
    assert.equal((await readFleetSettings({ ...URL_ONLY, WARDEN_RECORDINGS: 'keep' })).uploadRecordings, false);
    assert.equal((await readFleetSettings({ ...URL_ONLY, WARDEN_RECORDINGS: 'upload' })).uploadRecordings, true);
  });

  it('refuses what it cannot run with, naming the variable', async () => {
    const cases: [env: NodeJS.ProcessEnv, message: RegExp][] = [
      [{ WARDEN_PROXY_KEY: 'k' }, /WARDEN_CONTROL_PLANE_URL is not set/],
      [{ ...URL_ONLY, WARDEN_CONTROL_PLANE_URL: 'ftp://x' }, /WARDEN_CONTROL_PLANE_URL must be an http\(s\) URL/],
      [{ ...URL_ONLY, WARDEN_PROXY_KEY: '' }, /WARDEN_PROXY_KEY is not set/],
      [{ ...URL_ONLY, WARDEN_PROXY_AUTH: 'iam' }, /WARDEN_PROXY_AUTH=iam .*set AWS_REGION/],
      [{ ...URL_ONLY, WARDEN_PROXY_AUTH: 'sigv4' }, /WARDEN_PROXY_AUTH must be iam or key/],
      [{ ...URL_ONLY, WARDEN_POSTGRES_PORT: '5432x' }, /WARDEN_POSTGRES_PORT must be a whole number from 0 to 65535/],
      [{ ...URL_ONLY, WARDEN_SSH_PORT: '70000' }, /WARDEN_SSH_PORT must be a whole number from 0 to 65535/],
      [{ ...URL_ONLY, WARDEN_DRAIN_SECONDS: '-1' }, /WARDEN_DRAIN_SECONDS must be a whole number/],
      [{ ...URL_ONLY, WARDEN_CONFIG: join(tmpdir(), 'no-such-warden.yaml') }, /WARDEN_CONFIG: cannot read .*no-such-warden\.yaml \(ENOENT\)/],
      [{ ...URL_ONLY, WARDEN_CONFIG: '/x', WARDEN_CONFIG_YAML: '{}' }, /not both/],
      [{ ...URL_ONLY, WARDEN_CONFIG_YAML: 'connections: { Bad: {} }' }, /WARDEN_CONFIG_YAML is not a valid Warden configuration/],
      [{ ...URL_ONLY, WARDEN_RECORDINGS: 's3' }, /WARDEN_RECORDINGS must be upload or keep, not "s3"/],
    ];
    for (const [env, message] of cases) await assert.rejects(readFleetSettings(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  });

  describe('the identity every task shares', () => {
    let hostKey: string;
    let hostPublicKey: string;
    let tls: { cert: string; key: string };
    let other: { cert: string; key: string };

    before(() => {
      let pair: ReturnType<typeof ssh2.utils.generateKeyPairSync>;
      do pair = ssh2.utils.generateKeyPairSync('ed25519');
      while (ssh2.utils.parseKey(pair.private) instanceof Error);
      hostKey = pair.private;
      hostPublicKey = pair.public;
      tls = selfSignedCertificate(['warden.example.com']);
      other = selfSignedCertificate(['other.example.com']);
    });

    it('takes WARDEN_SSH_HOST_KEY, WARDEN_TLS_CERT and WARDEN_TLS_KEY, and none when unset', async () => {
      const { identity } = await readFleetSettings({ ...URL_ONLY, WARDEN_SSH_HOST_KEY: hostKey, WARDEN_TLS_CERT: tls.cert, WARDEN_TLS_KEY: tls.key });
      assert.equal(identity.sshHostKey?.privateKey, hostKey);
      assert.equal(identity.sshHostKey?.publicKey, hostPublicKey.split(' ').slice(0, 2).join(' '));
      assert.deepEqual(identity.tls, tls);
      assert.deepEqual((await readFleetSettings(URL_ONLY)).identity, {});
    });

    it('refuses a host key that does not parse, or a certificate and key that do not match, naming the variable and never quoting the value', async () => {
      const cases: [env: NodeJS.ProcessEnv, message: RegExp, value?: string][] = [
        // What the stack's secret holds until the operator puts the key: 32 generated characters.
        [{ WARDEN_SSH_HOST_KEY: 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG' }, /^WARDEN_SSH_HOST_KEY does not parse .*OpenSSH private key \(ssh-keygen/, 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG'],
        [{ WARDEN_SSH_HOST_KEY: hostKey.slice(0, 200) }, /^WARDEN_SSH_HOST_KEY does not parse/],
        [{ WARDEN_SSH_HOST_KEY: hostPublicKey }, /^WARDEN_SSH_HOST_KEY is not a private key/],
        [{ WARDEN_TLS_CERT: IDENTITY_PLACEHOLDER, WARDEN_TLS_KEY: 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG' }, /^WARDEN_TLS_CERT is not a PEM certificate/, 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG'],
        [{ WARDEN_TLS_CERT: tls.cert, WARDEN_TLS_KEY: 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG' }, /^WARDEN_TLS_KEY is not an unencrypted PEM private key/, 'Zq8rT2vK9mX4nB7cL1pW6yH3jF5dS0aG'],
        [{ WARDEN_TLS_CERT: tls.cert, WARDEN_TLS_KEY: other.key }, /^WARDEN_TLS_KEY is not the private key of the certificate in WARDEN_TLS_CERT/, other.key.split('\n')[1]],
        [{ WARDEN_TLS_CERT: tls.cert }, /^WARDEN_TLS_CERT is set but WARDEN_TLS_KEY is not/],
        [{ WARDEN_TLS_KEY: tls.key }, /^WARDEN_TLS_KEY is set but WARDEN_TLS_CERT is not/],
      ];
      for (const [variables, message, value] of cases) {
        await assert.rejects(
          readFleetSettings({ ...URL_ONLY, ...variables }),
          (error: unknown) => error instanceof ConfigError && message.test(error.message) && (value === undefined || !error.message.includes(value)) && !error.message.includes('PRIVATE KEY-----\n'),
          Object.keys(variables).join(', '),
        );
      }
    });
  });
});
