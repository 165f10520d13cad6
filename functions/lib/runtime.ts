/**
 * What every handler needs: configuration, store, keys. Locally `warden up` builds it once
 * and hands it to the handlers through configureRuntime; the handlers themselves are the
 * very modules a Lambda entry point exports.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import type { WardenConfig } from '../../core/config.js';
import { DevIssuer } from './dev-issuer.js';
import { createDynamoClient } from './dynamodb.js';
import { loadOrCreateEcKey, loadOrCreateSecret } from './key-files.js';
import { LedgerStore } from './store.js';
import { TokenService } from './tokens.js';

export interface Runtime {
  readonly config: WardenConfig;
  readonly store: LedgerStore;
  readonly tokens: TokenService;
  readonly devIssuer?: DevIssuer;
  /** HMAC key for digests of raw payloads (DESIGN.md, invariant 2). */
  readonly digestKey: Buffer;
  /** Shared secret the proxy presents on proxy routes; IAM auth plays this role in AWS. */
  readonly proxyKey: string;
  readonly policyVersion: string;
  readonly now: () => number;
}

/** Files in the state directory. Each holds a secret and is created with mode 0600. */
export function statePaths(stateDir: string) {
  return {
    tokenSigningKey: join(stateDir, 'keys', 'token-signing.jwk'),
    devIssuerKey: join(stateDir, 'keys', 'dev-issuer.jwk'),
    digestKey: join(stateDir, 'keys', 'digest.key'),
    storeData: join(stateDir, 'store'),
    /** Where `warden up` tells other commands how to reach it. */
    running: join(stateDir, 'running.json'),
  };
}

export interface RuntimeOptions {
  readonly config: WardenConfig;
  readonly stateDir: string;
  readonly storeEndpoint?: string;
  readonly proxyKey: string;
}

export async function buildRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config } = options;
  const paths = statePaths(options.stateDir);
  const client = createDynamoClient({ region: config.store.region, ...(options.storeEndpoint ? { endpoint: options.storeEndpoint } : {}) });
  const now = Date.now;
  return {
    config,
    store: new LedgerStore(client, config.store.tablePrefix),
    tokens: new TokenService(await loadOrCreateEcKey(paths.tokenSigningKey), config.tokens.issuer, config.tokens.ttlSeconds, now),
    ...(config.identity.devIssuer ? { devIssuer: new DevIssuer(await loadOrCreateEcKey(paths.devIssuerKey), now) } : {}),
    digestKey: await loadOrCreateSecret(paths.digestKey),
    proxyKey: options.proxyKey,
    policyVersion: policyVersionOf(config),
    now,
  };
}

/** A short content hash of the policy, recorded with every decision. */
export function policyVersionOf(config: WardenConfig): string {
  return createHash('sha256').update(canonicalJson(config.policy)).digest('hex').slice(0, 12);
}

let current: Runtime | undefined;

export function configureRuntime(runtime: Runtime): void {
  current = runtime;
}

export function getRuntime(): Runtime {
  if (!current) throw new Error('the Warden runtime is not configured: start the control plane with `warden up`');
  return current;
}
