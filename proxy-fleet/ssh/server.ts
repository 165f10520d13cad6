/** The SSH listener of the proxy fleet: one GatewayConnection per client, and the status poll that ends revoked sessions. */
import { mkdir } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { ApprovalWaiter } from '../approval-waiter.js';
import { LiveSessions } from '../live-sessions.js';
import { listenOn, SHUTDOWN_REASON, type Listener, type ListenerOptions } from '../listener.js';
import { GatewayConnection } from './gateway-connection.js';
import { recordingUploader } from './recording-upload.js';
import type { SshTarget } from './upstream.js';

export interface SshGatewayOptions extends ListenerOptions {
  /** The gateway's host key (OpenSSH private key text); see host-key.ts. */
  readonly hostKey: string;
  readonly targets: ReadonlyMap<string, SshTarget>;
  /** Where shell recordings (asciicast v2) are written. */
  readonly recordingsDir: string;
  /** Move each finished recording to the evidence bucket through the control plane (recording-upload.ts), instead of keeping it here. */
  readonly uploadRecordings?: boolean;
}

export async function startSshGateway(options: SshGatewayOptions): Promise<Listener> {
  await mkdir(options.recordingsDir, { recursive: true, mode: 0o700 });
  const log = options.log ?? ((event) => console.error(JSON.stringify({ component: 'ssh-gateway', ...event })));
  const approvals = new ApprovalWaiter((ids) => options.controlPlane.approvalStatuses(ids), options.approvalPollMs ?? 1000, log);
  // Revoked or expired sessions, and sessions whose grant ended, end within one poll.
  const live = new LiveSessions<GatewayConnection>(options.controlPlane, options.statusPollMs ?? 2000, log);
  const uploadRecording = options.uploadRecordings ? recordingUploader({ target: (request) => options.controlPlane.recordingUpload(request), log }) : undefined;
  const server = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'Warden' }, (client, info) => {
    const connection = new GatewayConnection(client, info, {
      controlPlane: options.controlPlane,
      approvals,
      targets: options.targets,
      recordingsDir: options.recordingsDir,
      ...(uploadRecording ? { uploadRecording } : {}),
      log,
    });
    live.add(connection);
    client.on('close', () => live.delete(connection));
  });
  const { host, port, stopListening } = await listenOn(server, options);
  return {
    host,
    port,
    drain: stopListening,
    close: async () => {
      live.stop();
      live.terminateAll(SHUTDOWN_REASON);
      await stopListening();
    },
  };
}
