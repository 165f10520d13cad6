/**
 * What every handler needs: configuration, stores, keys. Locally `warden up` builds it once
 * and hands it to the handlers through configureRuntime; the handlers themselves are the
 * very modules a Lambda entry point exports.
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WardenConfig } from '../../core/config.js';
import type { Ed25519NoteSigner } from '../../core/ledger/signed-note.js';
import { ApprovalStore } from './approval-store.js';
import { ApprovalService, type ApprovalNotifier } from './approvals.js';
import { BatchWriter } from './batch-writer.js';
import { CallbackReplays } from './callback-replays.js';
import { GrantStore } from './grant-store.js';
import { GrantService } from './grants.js';
import { SlackNotifier, type SlackSettings } from './slack-notifier.js';
import { DevIssuer } from './dev-issuer.js';
import { createDynamoClient } from './dynamodb.js';
import { configuredBundleTarget, type BundleTarget } from './evidence/bundle-target.js';
import type { S3Recordings } from './evidence/s3-recordings.js';
import { recordingsIn } from './evidence/sources.js';
import { DirectorySink, type EvidenceSink } from './evidence-sink.js';
import { loadOrCreateEcKey, loadOrCreateNoteKey, loadOrCreateSecret } from './key-files.js';
import type { PolicyEngine } from './policy-engine.js';
import { OidcIssuers } from './oidc-issuers.js';
import { Revocations } from './revocations.js';
import { SessionStore } from './session-store.js';
import { TokenService, localTokenKey } from './tokens.js';

export interface Runtime {
  readonly config: WardenConfig;
  readonly client: DynamoDBClient;
  readonly sessions: SessionStore;
  readonly revocations: Revocations;
  /** Appends entries with group commit; resolves once they are durable. */
  readonly ledger: BatchWriter;
  readonly tokens: TokenService;
  readonly devIssuer?: DevIssuer;
  readonly oidc: OidcIssuers;
  /** HMAC key for digests of raw payloads (DESIGN.md, invariant 2). */
  readonly digestKey: Buffer;
  /** Shared secret the proxy presents on proxy routes; IAM auth plays this role in AWS. */
  readonly proxyKey: string;
  readonly policy: PolicyEngine;
  readonly approvals: ApprovalService;
  readonly grants: GrantService;
  /** Set when approvals.slack is configured. */
  readonly slack?: SlackSettings;
  readonly callbackReplays: CallbackReplays;
  /** Signs the log's checkpoints and evidence manifests. */
  readonly logSigner: Ed25519NoteSigner;
  readonly evidence: EvidenceStores;
  readonly now: () => number;
}

/** Where evidence leaves the store, and where recordings are read back for bundles. */
export interface EvidenceStores {
  /** Signed checkpoints, as the checkpointer exports them. */
  readonly checkpoints: EvidenceSink;
  /** Scheduled bundles: evidence.export.s3, else STATE_DIR/evidence/bundles. */
  readonly bundles: BundleTarget;
  /** A recording an entry names; undefined when it is gone. */
  readonly readRecording: (path: string) => Promise<Buffer | undefined>;
  /** False where the recordings stay with the proxy task (Lambda): readRecording finds none there. */
  readonly recordingsReadable: boolean;
  /** Where the proxy puts recordings that leave it (the evidence bucket, in AWS); unset: they stay with the proxy. */
  readonly recordingUploads?: Pick<S3Recordings, 'uploadTarget'>;
}

/** Files in the state directory. Private keys are created with mode 0600. */
export function statePaths(stateDir: string) {
  return {
    tokenSigningKey: join(stateDir, 'keys', 'token-signing.jwk'),
    devIssuerKey: join(stateDir, 'keys', 'dev-issuer.jwk'),
    digestKey: join(stateDir, 'keys', 'digest.key'),
    /** The log's checkpoint key; `log.vkey` beside it is the public half auditors need. */
    logKey: join(stateDir, 'keys', 'log.skey'),
    logVerifierKey: join(stateDir, 'keys', 'log.vkey'),
    storeData: join(stateDir, 'store'),
    evidence: join(stateDir, 'evidence'),
    /** Scheduled evidence bundles, when evidence.export.s3 is not set (read-only files, never replaced). */
    evidenceBundles: join(stateDir, 'evidence', 'bundles'),
    /** The proxy's self-signed TLS certificate and key. */
    tls: join(stateDir, 'tls'),
    /** The SSH gateway's host key (OpenSSH format, 0600). */
    sshHostKey: join(stateDir, 'keys', 'ssh-host-ed25519'),
    /** Shell recordings (asciicast v2), referenced from the ledger by path and SHA-256. */
    recordings: join(stateDir, 'evidence', 'recordings'),
    /** Where `warden up` tells other commands how to reach it. */
    running: join(stateDir, 'running.json'),
  };
}

export interface RuntimeOptions {
  readonly config: WardenConfig;
  readonly stateDir: string;
  readonly storeEndpoint?: string;
  readonly proxyKey: string;
  readonly policy: PolicyEngine;
  readonly onBatch?: (seq: number) => void;
  /** Where reviewers reach this control plane; default approvals.publicUrl, else the configured listen address. */
  readonly publicUrl?: () => string;
  /** Slack's secrets, resolved from the environment variables approvals.slack names. */
  readonly slack?: SlackSettings;
  /** For tests: who hears of approval changes instead of Slack. */
  readonly notifier?: ApprovalNotifier;
  /**
   * The log's signer. Default: the key file STATE_DIR/keys/log.skey. A signer whose key never
   * leaves a KMS (issue 11) implements the same interface and is passed here.
   */
  readonly logSigner?: Ed25519NoteSigner;
  /** False where the proxy's recordings directory is not on this machine (Lambda); default true. */
  readonly recordingsReadable?: boolean;
  /** Recordings in the evidence bucket, read and put there instead of the recordings directory. */
  readonly recordingStore?: S3Recordings;
}

/** The runtime's keys: files in the state directory locally, KMS and Secrets Manager in Lambda (lambda-runtime.ts). */
export type RuntimeKeys = Pick<Runtime, 'tokens' | 'devIssuer' | 'digestKey' | 'logSigner'>;

export async function buildRuntime(options: RuntimeOptions): Promise<Runtime> {
  return { ...buildRuntimeWithoutKeys(options), ...(await localKeys(options)) };
}

/** Everything but the keys: stores, services and where evidence goes. */
export function buildRuntimeWithoutKeys(options: Omit<RuntimeOptions, 'logSigner'>): Omit<Runtime, keyof RuntimeKeys> {
  const { config } = options;
  const paths = statePaths(options.stateDir);
  const client = createDynamoClient({ region: config.store.region, ...(options.storeEndpoint ? { endpoint: options.storeEndpoint } : {}) });
  const now = Date.now;
  const ledger = new BatchWriter(client, config.store.tablePrefix, now, options.onBatch);
  const { host, port } = config.controlPlane.listen;
  const publicUrl = options.publicUrl ?? (() => config.approvals.publicUrl ?? `http://${host}:${port}`);
  const baseUrl = () => publicUrl().replace(/\/$/, '');
  const log = (event: Record<string, unknown>) => console.error(JSON.stringify({ component: 'approvals', ...event }));
  const notifier: ApprovalNotifier | undefined = options.notifier ?? (options.slack ? new SlackNotifier(options.slack, (id): string => approvals.urlOf(id), log) : undefined);
  const approvals = new ApprovalService(new ApprovalStore(client, config.store.tablePrefix), ledger, config, baseUrl, now, notifier);
  return {
    config,
    client,
    sessions: new SessionStore(client, config.store.tablePrefix),
    revocations: new Revocations(client, config.store.tablePrefix, now),
    ledger,
    approvals,
    grants: new GrantService(new GrantStore(client, config.store.tablePrefix), approvals, ledger, options.policy, config, now),
    ...(options.slack ? { slack: options.slack } : {}),
    callbackReplays: new CallbackReplays(client, config.store.tablePrefix, now),
    oidc: new OidcIssuers(config.identity.issuers),
    proxyKey: options.proxyKey,
    policy: options.policy,
    evidence: {
      checkpoints: new DirectorySink(paths.evidence),
      bundles: configuredBundleTarget(config.evidence.export, paths.evidenceBundles),
      ...(options.recordingStore
        ? { readRecording: (path: string) => options.recordingStore!.read(path), recordingsReadable: true, recordingUploads: options.recordingStore }
        : { readRecording: recordingsIn(paths.recordings), recordingsReadable: options.recordingsReadable ?? true }),
    },
    now,
  };
}

async function localKeys({ config, stateDir, logSigner }: RuntimeOptions): Promise<RuntimeKeys> {
  const paths = statePaths(stateDir);
  return {
    tokens: new TokenService(localTokenKey(await loadOrCreateEcKey(paths.tokenSigningKey)), config.tokens.issuer, config.tokens.ttlSeconds),
    ...(config.identity.devIssuer ? { devIssuer: new DevIssuer(await loadOrCreateEcKey(paths.devIssuerKey)) } : {}),
    digestKey: await loadOrCreateSecret(paths.digestKey),
    logSigner: logSigner ?? (await loadOrCreateNoteKey(paths.logKey, config.ledger.origin)),
  };
}

/** HMAC, not a bare hash: a low-entropy value (an SSN) must not be recoverable by brute force from the ledger. */
export function keyedDigest(runtime: Pick<Runtime, 'digestKey'>, raw: string): string {
  return createHmac('sha256', runtime.digestKey).update(raw, 'utf8').digest('hex');
}

let current: Runtime | undefined;

export function configureRuntime(runtime: Runtime): void {
  current = runtime;
}

export function isRuntimeConfigured(): boolean {
  return current !== undefined;
}

export function getRuntime(): Runtime {
  if (!current) throw new Error('the Warden runtime is not configured: start the control plane with `warden up`');
  return current;
}
