/**
 * The cluster end of the gateway: the API server's URL and the credential Warden holds for it (a
 * service-account token or a client certificate). The client's own Authorization never goes upstream.
 */
import { Agent } from 'node:https';

export interface KubernetesTarget {
  /** https://host:port[/prefix] of the API server. */
  readonly server: string;
  /** PEM of the CA that signed the API server's certificate; the system roots when absent. */
  readonly ca?: string;
  readonly token?: string;
  readonly cert?: string;
  readonly key?: string;
}

export class KubernetesUpstream {
  readonly agent: Agent;
  private readonly base: URL;

  constructor(readonly target: KubernetesTarget) {
    this.base = new URL(target.server);
    this.agent = new Agent({
      keepAlive: true,
      ...(target.ca ? { ca: target.ca } : {}),
      ...(target.cert ? { cert: target.cert, key: target.key } : {}),
    });
  }

  /** The upstream URL for a request target (path and query) relative to the API server's root. */
  url(requestTarget: string, scheme: 'https' | 'wss' = 'https'): URL {
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${requestTarget}`, this.base);
    url.protocol = `${scheme}:`;
    return url;
  }

  /** The header that carries Warden's credential, when it is a token. */
  authorization(): Record<string, string> {
    return this.target.token ? { authorization: `Bearer ${this.target.token}` } : {};
  }

  /** TLS options for a connection that does not go through the agent (WebSocket upgrades). */
  tlsOptions(): { ca?: string; cert?: string; key?: string } {
    return {
      ...(this.target.ca ? { ca: this.target.ca } : {}),
      ...(this.target.cert ? { cert: this.target.cert, key: this.target.key! } : {}),
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
