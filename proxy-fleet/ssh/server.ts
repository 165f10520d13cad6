/** The SSH listener of the proxy fleet: one GatewayConnection per client, and the status poll that ends revoked sessions. */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
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
  /** A client not authenticated this long after connecting is disconnected. */
  readonly loginTimeoutSeconds: number;
}

export async function startSshGateway(options: SshGatewayOptions): Promise<Listener> {
  await mkdir(options.recordingsDir, { recursive: true, mode: 0o700 });
  const log = options.log ?? ((event) => console.error(JSON.stringify({ component: 'ssh-gateway', ...event })));
  const approvals = new ApprovalWaiter((ids) => options.controlPlane.approvalStatuses(ids), options.approvalPollMs ?? 1000, log);
  // Revoked or expired sessions, and sessions whose grant ended, end within one poll.
  const live = new LiveSessions<GatewayConnection>(options.controlPlane, options.statusPollMs ?? 2000, log);
  const uploadRecording = options.uploadRecordings ? recordingUploader({ target: (request) => options.controlPlane.recordingUpload(request), log }) : undefined;
  // ssh2 reports a client only once its identification line has arrived, and not which socket
  // it came on, while the login deadline runs from accept. So the TCP listener is ours, and a
  // client is matched to its socket's deadline by remote address and port, which tell apart the
  // open connections to one listening address.
  const awaitingClient = new Map<string, (client: ssh2.Connection) => void>();
  const server = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'Warden' }, (client, info) => {
    awaitingClient.get(endpoint(info.ip, info.port))?.(client);
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
  const tcp = createServer((socket) => {
    const key = endpoint(socket.remoteAddress, socket.remotePort);
    let client: ssh2.Connection | undefined;
    const deadline = setTimeout(() => {
      log({ event: 'ssh-login-timeout', stage: client ? 'authentication' : 'identification', address: socket.remoteAddress, seconds: options.loginTimeoutSeconds });
      if (!client) {
        socket.destroy();
        return;
      }
      // SSH_MSG_DISCONNECT; ssh2 sends reason 11 (by application) and no description.
      client.end();
      // end() leaves the socket open until the client closes its side, which a stalled one may never do.
      setTimeout(() => socket.destroy(), 1000).unref();
    }, options.loginTimeoutSeconds * 1000);
    const claim = (reported: ssh2.Connection) => {
      awaitingClient.delete(key);
      client = reported;
      client.once('ready', () => clearTimeout(deadline));
    };
    awaitingClient.set(key, claim);
    socket.once('close', () => {
      clearTimeout(deadline);
      if (awaitingClient.get(key) === claim) awaitingClient.delete(key);
    });
    server.injectSocket(socket);
  });
  const { host, port, stopListening } = await listenOn(tcp, options);
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

function endpoint(address: string | undefined, port: number | undefined): string {
  return `${address}:${port}`;
}
