/**
 * CancelRequest mapping. Clients get the proxy's own process id and secret; a cancel that
 * presents them is forwarded with the upstream server's key, which the client never sees.
 */
import { timingSafeEqual } from 'node:crypto';
import { connect } from 'node:net';
import { serialize } from './protocol/index.js';
import type { UpstreamTarget } from './upstream.js';

interface CancelTarget {
  readonly upstream: { readonly processId: number; readonly secretKey: Buffer };
  readonly target: UpstreamTarget;
  /** Stops what the session itself is waiting on (a command held for approval). */
  readonly interrupt?: () => void;
}

export class CancelRegistry {
  private readonly entries = new Map<number, { secretKey: Buffer; cancel: CancelTarget }>();

  /** Returns the key to unregister with. */
  register(processId: number, secretKey: Buffer, cancel: CancelTarget): string {
    this.entries.set(processId, { secretKey, cancel });
    return String(processId);
  }

  unregister(key: string): void {
    this.entries.delete(Number(key));
  }

  /** Forwards a cancel if the key matches; a wrong key is ignored, as PostgreSQL does. */
  cancel(processId: number, secretKey: Buffer): boolean {
    const entry = this.entries.get(processId);
    if (!entry || entry.secretKey.length !== secretKey.length || !timingSafeEqual(entry.secretKey, secretKey)) return false;
    const { target, upstream, interrupt } = entry.cancel;
    interrupt?.();
    const socket = connect({ host: target.host, port: target.port }, () => socket.end(serialize.cancelRequest(upstream.processId, upstream.secretKey)));
    socket.on('error', () => socket.destroy());
    return true;
  }
}
