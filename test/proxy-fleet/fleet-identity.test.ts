/**
 * The fleet's identity from the environment: two starts with the same WARDEN_SSH_HOST_KEY,
 * WARDEN_TLS_CERT and WARDEN_TLS_KEY (two Fargate tasks) serve the same host key and
 * certificate, where without them each makes its own.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { wardenConfigSchema } from '../../core/config.js';
import { sharedKey } from '../../proxy-fleet/control-plane-auth.js';
import { ControlPlaneClient } from '../../proxy-fleet/control-plane-client.js';
import { startProxyFleet, type ProxyFleet } from '../../proxy-fleet/fleet.js';
import { readFleetIdentity } from '../../proxy-fleet/fleet-settings.js';
import type { FleetTargets } from '../../proxy-fleet/targets.js';
import { selfSignedCertificate } from '../../proxy-fleet/tls-certificate.js';

const TARGET_HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

/** The host key the SSH listener presents, as "type base64". */
function servedHostKey(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let seen: string | undefined;
    client.on('error', (error) => (seen ? resolve(seen) : reject(error)));
    client.on('close', () => (seen ? resolve(seen) : reject(new Error('no host key seen'))));
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'probe',
      hostVerifier: (key: Buffer) => {
        const parsed = ssh2.utils.parseKey(key);
        const one = Array.isArray(parsed) ? parsed[0]! : parsed;
        if (one instanceof Error) throw one;
        seen = `${one.type} ${one.getPublicSSH().toString('base64')}`;
        return false;
      },
    });
  });
}

/** The certificate the Kubernetes listener presents, PEM. */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(new X509Certificate(socket.getPeerCertificate().raw).toString());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('the fleet identity from the environment', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let hostKey: ReturnType<typeof ssh2.utils.generateKeyPairSync>;
  let tls: { cert: string; key: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-fleet-identity-'));
    // ssh2's generator now and then writes a key its parser rejects (host-key.ts); take one that parses.
    do hostKey = ssh2.utils.generateKeyPairSync('ed25519');
    while (ssh2.utils.parseKey(hostKey.private) instanceof Error);
    tls = selfSignedCertificate(['warden.example.com']);
    env = { WARDEN_SSH_HOST_KEY: hostKey.private, WARDEN_TLS_CERT: tls.cert, WARDEN_TLS_KEY: tls.key };
  });

  after(() => rm(dir, { recursive: true, force: true }));

  const targets: FleetTargets = {
    postgres: new Map(),
    ssh: new Map([['web', { host: '127.0.0.1', port: 1, user: 'deploy', privateKey: 'unused', hostKey: TARGET_HOST_KEY }]]),
    kubernetes: new Map([['cluster', { server: 'https://127.0.0.1:1' }]]),
  };
  const config = wardenConfigSchema.parse({ proxy: { postgres: { host: '127.0.0.1', port: 0, tls: { mode: 'self-signed' } }, ssh: { host: '127.0.0.1', port: 0 }, kubernetes: { host: '127.0.0.1', port: 0 } } });

  /** One task: its own state directory, as each Fargate task has. */
  const startTask = async (task: string, identity: NodeJS.ProcessEnv | undefined): Promise<ProxyFleet> =>
    startProxyFleet({
      config,
      configDir: dir,
      targets,
      controlPlane: new ControlPlaneClient({ url: 'http://127.0.0.1:9', auth: sharedKey('k') }),
      paths: { tls: join(dir, task, 'tls'), sshHostKey: join(dir, task, 'ssh-host-ed25519'), recordings: join(dir, task, 'recordings') },
      ...(identity ? { identity: readFleetIdentity(identity) } : {}),
    });

  it('serves the same SSH host key and certificate from two starts with the same environment', async () => {
    const fleets = [await startTask('a', env), await startTask('b', env)];
    try {
      const expectedKey = (() => {
        const parsed = ssh2.utils.parseKey(hostKey.public);
        const one = Array.isArray(parsed) ? parsed[0]! : parsed;
        if (one instanceof Error) throw one;
        return `${one.type} ${one.getPublicSSH().toString('base64')}`;
      })();
      const expectedCert = new X509Certificate(tls.cert).toString();
      for (const fleet of fleets) {
        assert.equal(fleet.ssh?.hostKey, expectedKey, 'the reported host key');
        assert.equal(await servedHostKey(fleet.ssh!.port), expectedKey, 'the host key on the wire');
        assert.equal(await servedCertificate(fleet.kubernetes!.port), expectedCert, 'the certificate on the wire');
        assert.equal(await readFile(fleet.kubernetes!.certFile, 'utf8'), tls.cert, 'the file clients trust is the given certificate');
        assert.equal(fleet.certificateFile, fleet.kubernetes!.certFile);
      }
    } finally {
      await Promise.all(fleets.map((fleet) => fleet.close()));
    }
  });

  it('without it, each task makes its own (the problem the variables solve)', async () => {
    const fleets = [await startTask('c', undefined), await startTask('d', undefined)];
    try {
      assert.notEqual(fleets[0]!.ssh!.hostKey, fleets[1]!.ssh!.hostKey);
      assert.notEqual(await servedCertificate(fleets[0]!.kubernetes!.port), await servedCertificate(fleets[1]!.kubernetes!.port));
    } finally {
      await Promise.all(fleets.map((fleet) => fleet.close()));
    }
  });
});
