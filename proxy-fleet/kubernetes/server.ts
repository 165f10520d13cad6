/**
 * The Kubernetes API gateway: HTTPS, one path prefix per cluster (`/clusters/CONNECTION/…`, the
 * kubeconfig's server), the client's Warden token as bearer. Every request is described by the
 * attributes the API server authorizes on, decided by the control plane (Cedar) and recorded
 * before it is forwarded with the gateway's own credential; what it did is reported after, once
 * (a watch, a followed log or an exec session is one command, with its duration and size).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AuthorizeCommand, CommandDecision, KubernetesRequestAttributes } from '../../core/contract.js';
import { CANCELED, settleHeld } from '../approval-hold.js';
import { ApprovalWaiter } from '../approval-waiter.js';
import type { ControlPlaneClient } from '../control-plane-client.js';
import { ControlPlaneRefusal } from '../errors.js';
import { listenOn, type Listener, type ListenerOptions } from '../listener.js';
import { LiveSessions } from '../live-sessions.js';
import { relayHttp, type RelayOutcome } from './http-relay.js';
import { describeRequest, execCommand, KubernetesRequestError, type KubernetesRequest } from './request-info.js';
import { KubernetesSessions, type KubernetesSession } from './sessions.js';
import { sendStatus, sendStatusOnSocket } from './status.js';
import { KubernetesUpstream, type KubernetesTarget } from './upstream.js';
import { relayWebSocket } from './websocket-relay.js';

export interface KubernetesGatewayOptions extends ListenerOptions {
  readonly tls: { readonly cert: string; readonly key: string };
  readonly targets: ReadonlyMap<string, KubernetesTarget>;
}

const CLUSTER_PATH = /^\/clusters\/([a-z0-9][a-z0-9_-]{0,62})(\/.*)?$/;
/**
 * kubectl asks for exec, attach and port-forward over WebSocket and, when that is not answered
 * with 101, asks again over SPDY. The second ask gets the first one's refusal, not a new decision
 * (and not a second approval request).
 */
const FALLBACK_MEMORY_MS = 30_000;
const STREAMING_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward']);

type Reply = { kind: 'http'; response: ServerResponse } | { kind: 'upgrade'; socket: Duplex; head: Buffer };

export async function startKubernetesGateway(options: KubernetesGatewayOptions): Promise<Listener> {
  const log = options.log ?? ((event) => console.error(JSON.stringify({ component: 'kubernetes-gateway', ...event })));
  const upstreams = new Map([...options.targets].map(([name, target]) => [name, new KubernetesUpstream(target)]));
  const approvals = new ApprovalWaiter((ids) => options.controlPlane.approvalStatuses(ids), options.approvalPollMs ?? 1000, log);
  const live = new LiveSessions<KubernetesSession>(options.controlPlane, options.statusPollMs ?? 2000, log);
  const sessions = new KubernetesSessions(options.controlPlane, live, log);
  const refusals = new Map<string, { message: string; until: number }>();
  const gateway = new RequestHandler(options.controlPlane, upstreams, sessions, approvals, refusals, log);

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => gateway.handle(request, { kind: 'http', response }));
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => gateway.handle(request, { kind: 'upgrade', socket, head }));
  server.on('clientError', (error, socket) => {
    log({ event: 'k8s-client-error', error: error.message });
    socket.destroy();
  });
  const { host, port, stopListening } = await listenOn(server, options);
  return {
    host,
    port,
    drain: stopListening,
    close: async () => {
      live.stop();
      sessions.close();
      const closed = stopListening();
      server.closeAllConnections();
      for (const upstream of upstreams.values()) upstream.close();
      await closed;
    },
  };
}

class RequestHandler {
  constructor(
    private readonly controlPlane: ControlPlaneClient,
    private readonly upstreams: ReadonlyMap<string, KubernetesUpstream>,
    private readonly sessions: KubernetesSessions,
    private readonly approvals: ApprovalWaiter,
    private readonly refusals: Map<string, { message: string; until: number }>,
    private readonly log: (event: Record<string, unknown>) => void,
  ) {}

  handle(request: IncomingMessage, reply: Reply): void {
    this.serve(request, reply).catch((error: unknown) => {
      const refusal = error instanceof ControlPlaneRefusal ? error : undefined;
      this.log({ event: 'k8s-request-failed', error: error instanceof Error ? error.message : String(error) });
      this.refuse(reply, refusal?.kind === 'refused' ? 403 : refusal ? 503 : 502, refusal ? `Warden: ${refusal.message}` : 'Warden: the gateway failed to relay the request; see its log');
    });
  }

  private async serve(request: IncomingMessage, reply: Reply): Promise<void> {
    const url = request.url ?? '/';
    const route = CLUSTER_PATH.exec(url.split('?')[0]!);
    const connection = route?.[1];
    const upstream = connection === undefined ? undefined : this.upstreams.get(connection);
    if (!connection || !upstream) {
      return this.refuse(reply, 404, `Warden: no Kubernetes connection at ${url.split('?')[0]}; use a kubeconfig from \`warden kubeconfig --connection NAME\` (connections: ${[...this.upstreams.keys()].join(', ') || 'none'})`);
    }
    const requestTarget = url.slice(`/clusters/${connection}`.length) || '/';
    const token = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return this.refuse(reply, 401, `Warden: no bearer token; use a kubeconfig from \`warden kubeconfig --connection ${connection}\``);

    let session: KubernetesSession;
    try {
      session = await this.sessions.get(token, {
        connection,
        protocol: 'kubernetes',
        client: { address: request.socket.remoteAddress ?? '', tls: true, user: connection, ...(request.headers['user-agent'] ? { application: request.headers['user-agent'].slice(0, 200) } : {}) },
      });
    } catch (error) {
      if (!(error instanceof ControlPlaneRefusal)) throw error;
      return this.refuse(reply, error.kind === 'refused' ? 401 : 503, `Warden refused the token: ${error.message}`);
    }
    const tracked = session.track();
    try {
      await this.decideAndRelay(request, reply, session, upstream, requestTarget, tracked.signal);
    } finally {
      tracked.done();
    }
  }

  private async decideAndRelay(request: IncomingMessage, reply: Reply, session: KubernetesSession, upstream: KubernetesUpstream, requestTarget: string, signal: AbortSignal): Promise<void> {
    const method = request.method ?? 'GET';
    const base: AuthorizeCommand = { sessionId: session.sessionId, commandId: session.nextCommandId(), kind: 'k8s.request', text: `${method} ${requestTarget}` };
    const upgrade = request.headers.upgrade?.toLowerCase();
    const memoKey = `${session.sessionId} ${requestTarget}`;

    let described: KubernetesRequest;
    try {
      described = describeRequest(method, requestTarget);
    } catch (error) {
      if (!(error instanceof KubernetesRequestError)) throw error;
      // Recorded as refused: the control plane refuses a request without attributes.
      await this.controlPlane.authorize(base);
      return this.refuse(reply, 400, `Warden refused the request: ${error.message}`);
    }
    const impersonation = Object.keys(request.headers).find((name) => name.startsWith('impersonate-'));
    if (impersonation) {
      await this.controlPlane.authorize(base);
      return this.refuse(reply, 403, `Warden refused the request: impersonation (${impersonation}, kubectl --as) would make the gateway's credential act for someone else`);
    }
    const remembered = this.refusals.get(memoKey);
    if (upgrade && upgrade !== 'websocket' && remembered && remembered.until > Date.now()) return this.refuse(reply, 403, remembered.message);

    const attributes: KubernetesRequestAttributes = {
      resourceRequest: described.resourceRequest,
      verb: described.verb,
      apiGroup: described.apiGroup,
      apiVersion: described.apiVersion,
      resource: described.resource,
      subresource: described.subresource,
      namespace: described.namespace,
      name: described.name,
      path: described.path,
      ...(described.subresource === 'exec' ? { command: execCommand(requestTarget) } : {}),
    };
    const command: AuthorizeCommand = { ...base, kubernetes: attributes };
    const cancel = new AbortController();
    const cancelOnClose = () => cancel.abort();
    (reply.kind === 'http' ? reply.response : reply.socket).once('close', cancelOnClose);
    signal.addEventListener('abort', cancelOnClose, { once: true });
    const decision = await settleHeld(
      await this.controlPlane.authorize(command),
      this.approvals,
      cancel.signal,
      (held) => this.log({ event: 'k8s-request-held', session: session.sessionId, approval: held.id, url: held.url, reason: held.reason }),
      (approvalId) => this.controlPlane.authorize({ ...command, approvalId }),
    );
    (reply.kind === 'http' ? reply.response : reply.socket).off('close', cancelOnClose);
    if (decision.decision !== 'allow') {
      if (decision.error === CANCELED) return;
      const message = denial(decision);
      if (STREAMING_SUBRESOURCES.has(described.subresource)) this.remember(memoKey, message);
      return this.refuse(reply, decision.error ? 503 : 403, message);
    }
    if (upgrade && upgrade !== 'websocket') {
      return this.refuse(reply, 400, `Warden relays ${described.subresource || 'streams'} over WebSocket only, and this client asked for ${request.headers.upgrade}; use kubectl 1.30 or newer`);
    }

    const started = Date.now();
    let outcome: RelayOutcome & { exitStatus?: number };
    try {
      outcome =
        reply.kind === 'upgrade'
          ? await relayWebSocket(request, reply.socket, reply.head, upstream, requestTarget, described.subresource !== 'portforward', session.detectors, signal)
          : await relayHttp(request, reply.response, upstream, described, requestTarget, session.detectors, signal);
    } catch (error) {
      this.log({ event: 'k8s-relay-failed', session: session.sessionId, error: error instanceof Error ? error.message : String(error) });
      outcome = { httpStatus: reply.kind === 'http' && reply.response.headersSent ? reply.response.statusCode : 502, bytesOut: 0, bytesIn: 0, masked: {} };
      if (!(reply.kind === 'http' && reply.response.headersSent)) this.refuse(reply, 502, `Warden could not reach the cluster: ${error instanceof Error ? error.message : String(error)}`);
      else reply.response.destroy();
    }
    this.controlPlane
      .report({
        sessionId: session.sessionId,
        commandId: command.commandId,
        rows: 0,
        httpStatus: outcome.httpStatus,
        durationMs: Date.now() - started,
        bytesOut: outcome.bytesOut,
        bytesIn: outcome.bytesIn,
        masked: outcome.masked,
        ...(outcome.exitStatus === undefined ? {} : { exitStatus: outcome.exitStatus }),
      })
      .catch((error: unknown) => this.log({ event: 'k8s-report-failed', session: session.sessionId, error: String(error) }));
  }

  /** Remembers a streaming request's refusal for its SPDY retry; forgets the expired ones as it goes. */
  private remember(key: string, message: string): void {
    const now = Date.now();
    if (this.refusals.size >= 1000) for (const [stale, { until }] of this.refusals) if (until <= now) this.refusals.delete(stale);
    this.refusals.set(key, { message, until: now + FALLBACK_MEMORY_MS });
  }

  private refuse(reply: Reply, code: number, message: string): void {
    if (reply.kind === 'http') sendStatus(reply.response, code, message);
    else sendStatusOnSocket(reply.socket, code, message);
  }
}

function denial(decision: CommandDecision): string {
  const entry = decision.statements[0]?.entry;
  return `Warden denied this request: ${decision.reason ?? 'policy'}${entry ? ` (ledger entry ${entry})` : ''}`;
}
