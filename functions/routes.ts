/**
 * The control plane's routes. Each names the module whose `handler` export is the Lambda
 * entry point; the local adapter and the CDK app both read this table.
 */
import type { Handler } from 'aws-lambda';

export interface Route {
  readonly method: 'GET' | 'POST';
  /** API Gateway route path: `{name}` is a path parameter. */
  readonly path: string;
  /** File under functions/ that exports `handler`. */
  readonly entry: string;
  /** Proxy routes are for the proxy fleet only (IAM auth in AWS, a shared key locally). */
  readonly audience: 'public' | 'proxy';
  readonly load: () => Promise<{ handler: Handler }>;
}

export const routes: readonly Route[] = [
  { method: 'POST', path: '/v1/token', entry: 'token.ts', audience: 'public', load: () => import('./token.js') },
  { method: 'POST', path: '/v1/sessions', entry: 'sessions-start.ts', audience: 'proxy', load: () => import('./sessions-start.js') },
  { method: 'POST', path: '/v1/sessions/status', entry: 'sessions-status.ts', audience: 'proxy', load: () => import('./sessions-status.js') },
  { method: 'POST', path: '/v1/sessions/{id}/end', entry: 'sessions-end.ts', audience: 'proxy', load: () => import('./sessions-end.js') },
  { method: 'POST', path: '/v1/authorize', entry: 'authorize.ts', audience: 'proxy', load: () => import('./authorize.js') },
  { method: 'POST', path: '/v1/approvals/status', entry: 'approvals-status.ts', audience: 'proxy', load: () => import('./approvals-status.js') },
  { method: 'GET', path: '/v1/approvals', entry: 'approvals-read.ts', audience: 'public', load: () => import('./approvals-read.js') },
  { method: 'GET', path: '/v1/approvals/{id}', entry: 'approvals-read.ts', audience: 'public', load: () => import('./approvals-read.js') },
  { method: 'POST', path: '/v1/approvals/{id}/{decision}', entry: 'approvals-decide.ts', audience: 'public', load: () => import('./approvals-decide.js') },
  { method: 'POST', path: '/v1/grants', entry: 'grants-request.ts', audience: 'public', load: () => import('./grants-request.js') },
  { method: 'GET', path: '/v1/grants', entry: 'grants-read.ts', audience: 'public', load: () => import('./grants-read.js') },
  { method: 'GET', path: '/v1/grants/{id}', entry: 'grants-read.ts', audience: 'public', load: () => import('./grants-read.js') },
  { method: 'POST', path: '/v1/grants/{id}/revoke', entry: 'grants-revoke.ts', audience: 'public', load: () => import('./grants-revoke.js') },
  { method: 'POST', path: '/v1/slack/interactions', entry: 'slack-interactions.ts', audience: 'public', load: () => import('./slack-interactions.js') },
  { method: 'GET', path: '/.well-known/openid-configuration', entry: 'well-known.ts', audience: 'public', load: () => import('./well-known.js') },
  { method: 'GET', path: '/.well-known/jwks.json', entry: 'well-known.ts', audience: 'public', load: () => import('./well-known.js') },
  { method: 'POST', path: '/v1/results', entry: 'results.ts', audience: 'proxy', load: () => import('./results.js') },
  { method: 'POST', path: '/v1/recordings', entry: 'recordings-upload.ts', audience: 'proxy', load: () => import('./recordings-upload.js') },
  { method: 'GET', path: '/v1/sessions', entry: 'sessions-read.ts', audience: 'public', load: () => import('./sessions-read.js') },
  { method: 'GET', path: '/v1/sessions/{id}', entry: 'sessions-read.ts', audience: 'public', load: () => import('./sessions-read.js') },
  { method: 'GET', path: '/v1/sessions/{id}/recordings/{commandId}', entry: 'sessions-recording.ts', audience: 'public', load: () => import('./sessions-recording.js') },
  { method: 'GET', path: '/v1/ledger/status', entry: 'ledger-status.ts', audience: 'public', load: () => import('./ledger-status.js') },
  { method: 'GET', path: '/v1/console/whoami', entry: 'console-whoami.ts', audience: 'public', load: () => import('./console-whoami.js') },
  { method: 'GET', path: '/console', entry: 'console.ts', audience: 'public', load: () => import('./console.js') },
  { method: 'GET', path: '/console/{path+}', entry: 'console.ts', audience: 'public', load: () => import('./console.js') },
  { method: 'GET', path: '/v1/console/config', entry: 'console.ts', audience: 'public', load: () => import('./console.js') },
];
