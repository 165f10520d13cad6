/**
 * The proxy fleet's own process: what proxy-fleet/Dockerfile builds into dist/proxy-fleet.mjs
 * and runs on Fargate, behind the NLB. Its settings come from the environment
 * (fleet-settings.ts); target credentials from the variables the connections name.
 *
 * ECS stops a task with SIGTERM, then SIGKILL once its stop timeout has passed. On SIGTERM (or
 * SIGINT) the fleet takes no new connections, lets the open ones finish for
 * WARDEN_DRAIN_SECONDS, ends the rest (each client told why), and exits once every command
 * result and session end has reached the control plane. A second signal exits at once.
 */
import { join } from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { ConfigError } from '../core/config.js';
import { sharedKey, sigV4, type ControlPlaneAuth } from './control-plane-auth.js';
import { ControlPlaneClient } from './control-plane-client.js';
import { startProxyFleet, type ProxyFleet } from './fleet.js';
import { readFleetSettings, type FleetAuth } from './fleet-settings.js';
import { resolveTargets } from './targets.js';

const log = (event: Record<string, unknown>) => console.error(JSON.stringify({ component: 'proxy-fleet', ...event }));

async function main(): Promise<void> {
  const settings = await readFleetSettings();
  const { config, configDir, stateDir } = settings;
  const targets = await resolveTargets(config.connections, configDir);
  const fleet = await startProxyFleet({
    config,
    configDir,
    targets,
    controlPlane: new ControlPlaneClient({ url: settings.controlPlaneUrl, auth: controlPlaneAuth(settings.auth) }),
    paths: { tls: join(stateDir, 'tls'), sshHostKey: join(stateDir, 'ssh-host-ed25519'), recordings: join(stateDir, 'recordings') },
    identity: settings.identity,
    uploadRecordings: settings.uploadRecordings,
  });
  log({ event: 'started', auth: settings.auth.kind, ...listening(fleet), connections: Object.keys(config.connections) });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log({ event: 'stopping', signal, drainSeconds: settings.drainMs / 1000 });
    fleet.shutdown(settings.drainMs).then(
      () => {
        log({ event: 'stopped' });
        process.exit(0);
      },
      (error: unknown) => {
        log({ event: 'stop-failed', error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function controlPlaneAuth(auth: FleetAuth): ControlPlaneAuth {
  // The provider chain finds the ECS task role's credentials and refreshes them before they expire.
  return auth.kind === 'iam' ? sigV4({ region: auth.region, credentials: defaultProvider() }) : sharedKey(auth.key);
}

function listening(fleet: ProxyFleet): Record<string, unknown> {
  const at = ({ host, port }: { host: string; port: number }) => ({ host, port });
  return { postgres: at(fleet.postgres), ...(fleet.ssh ? { ssh: { ...at(fleet.ssh), hostKey: fleet.ssh.hostKey } } : {}), ...(fleet.kubernetes ? { kubernetes: at(fleet.kubernetes) } : {}) };
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`warden proxy fleet: ${error.message}`);
    process.exit(2);
  }
  console.error(`warden proxy fleet: could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
