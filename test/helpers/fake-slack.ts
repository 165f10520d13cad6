/**
 * A local stand-in for Slack: an incoming webhook and response URLs that record what they
 * receive, and signed interaction requests shaped like the ones Slack sends on a click.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { SlackMessage } from '../../functions/lib/slack.js';

export interface InteractionOptions {
  signingSecret: string;
  userId: string;
  approvalId: string;
  decision: 'approve' | 'deny';
  reason?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Default: a fresh URL under the fake's responseUrlPrefix. */
  responseUrl?: string;
}

export interface FakeSlack {
  readonly webhookUrl: string;
  readonly responseUrlPrefix: string;
  /** JSON bodies received on the webhook, in order. */
  readonly webhookPosts: SlackMessage[];
  /** JSON bodies received on response URLs, in order. */
  readonly responses: { path: string; body: any }[];
  /** The next request, whatever its path, is answered with this status and body and not recorded. */
  failNext(status: number, body?: string): void;
  /** The next matching webhook post after the one the previous call returned (already received or still to come). */
  waitForWebhookPost(predicate?: (message: SlackMessage) => boolean, timeoutMs?: number): Promise<SlackMessage>;
  /** Likewise for response URLs. */
  waitForResponse(predicate?: (response: { path: string; body: any }) => boolean, timeoutMs?: number): Promise<{ path: string; body: any }>;
  signedInteraction(options: InteractionOptions): { body: string; headers: Record<string, string> };
  close(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const webhookPosts: SlackMessage[] = [];
  const responses: { path: string; body: any }[] = [];
  const arrivals = new EventEmitter();
  let failure: { status: number; body: string } | undefined;

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, text: string) => response.writeHead(status, { 'content-type': 'text/plain' }).end(text);
      if (failure) {
        const { status, body } = failure;
        failure = undefined;
        return answer(status, body);
      }
      if (request.method !== 'POST') return answer(405, 'method_not_allowed');
      const path = request.url ?? '/';
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(400, 'invalid_payload');
      }
      if (path.startsWith('/services/')) webhookPosts.push(body as SlackMessage);
      else if (path.startsWith('/actions/')) responses.push({ path, body });
      else return answer(404, 'no_service');
      arrivals.emit('arrival');
      return answer(200, 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const origin = `http://127.0.0.1:${port}`;
  const responseUrlPrefix = `${origin}/actions/`;

  function waiter<T>(list: T[], what: string) {
    let next = 0;
    return (predicate: (item: T) => boolean = () => true, timeoutMs = 5000) =>
      new Promise<T>((resolve, reject) => {
        const check = () => {
          for (let i = next; i < list.length; i += 1) {
            if (!predicate(list[i]!)) continue;
            next = i + 1;
            done();
            resolve(list[i]!);
            return;
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`fake Slack: no matching ${what} within ${timeoutMs} ms (${list.length} received in all)`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          arrivals.off('arrival', check);
        };
        arrivals.on('arrival', check);
        check();
      });
  }

  return {
    webhookUrl: `${origin}/services/T000/B000/XXXX`,
    responseUrlPrefix,
    webhookPosts,
    responses,
    failNext: (status, body = 'internal_error') => {
      failure = { status, body };
    },
    waitForWebhookPost: waiter(webhookPosts, 'webhook post'),
    waitForResponse: waiter(responses, 'response_url post'),
    signedInteraction: (options) => signedInteraction(responseUrlPrefix, options),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A block_actions request as Slack sends it on a button click, signed with Slack's v0 scheme. */
function signedInteraction(responseUrlPrefix: string, options: InteractionOptions): { body: string; headers: Record<string, string> } {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const payload = {
    type: 'block_actions',
    user: { id: options.userId, username: `user-${options.userId.toLowerCase()}`, name: `user-${options.userId.toLowerCase()}`, team_id: 'T000' },
    api_app_id: 'A000',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C000', is_ephemeral: false },
    trigger_id: `1000.2000.${randomBytes(8).toString('hex')}`,
    team: { id: 'T000', domain: 'warden-test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: 'C000', name: 'approvals' },
    state: { values: { warden_reason: { reason: { type: 'plain_text_input', value: options.reason ?? null } } } },
    response_url: options.responseUrl ?? `${responseUrlPrefix}T000/1000/${randomBytes(12).toString('hex')}`,
    actions: [
      {
        action_id: options.decision,
        block_id: 'warden_decision',
        value: options.approvalId,
        type: 'button',
        style: options.decision === 'approve' ? 'primary' : 'danger',
        text: { type: 'plain_text', text: options.decision === 'approve' ? 'Approve' : 'Deny' },
        action_ts: `${timestamp}.000200`,
      },
    ],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const signature = `v0=${createHmac('sha256', options.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
  };
}
