/**
 * The API contract between the proxy fleet and the control plane. Both sides import these
 * schemas; neither imports the other (DESIGN.md, layout).
 */
import { z } from 'zod';

export const identityChainSchema = z.object({
  sub: z.string(),
  groups: z.array(z.string()).readonly(),
  chain: z.string(),
  act: z.array(z.object({ sub: z.string() })).readonly(),
  workload: z.boolean().optional(),
  roles: z.array(z.string()).readonly().optional(),
});

/** POST /v1/sessions — the proxy presents the client's Warden token. */
export const sessionStartRequestSchema = z.object({
  token: z.string().min(1).max(16_384),
  connection: z.string().min(1).max(200),
  protocol: z.enum(['postgres', 'ssh', 'kubernetes']),
  client: z.object({
    address: z.string().max(200),
    /** Whether the client's connection to the proxy is encrypted. */
    tls: z.boolean(),
    user: z.string().max(200),
    application: z.string().max(200).optional(),
    /** Why the client connects (a ticket, a task): shown to approvers. From `-c warden.justification=…` in the startup options. */
    justification: z.string().max(500).optional(),
  }),
});
export type SessionStartRequest = z.infer<typeof sessionStartRequestSchema>;

export const sessionStartResponseSchema = z.object({
  sessionId: z.string(),
  identity: identityChainSchema,
  connection: z.string(),
  policyVersion: z.string(),
  /** The token's expiry; the session may not outlive it. */
  expiresAt: z.string(),
  /** What the proxy masks in this session's responses. */
  masking: z.object({
    columns: z.array(z.object({ id: z.string(), schema: z.string().optional(), table: z.string(), column: z.string() })),
    detectors: z.array(z.string()),
  }),
});
export type SessionStartResponse = z.infer<typeof sessionStartResponseSchema>;

/** POST /v1/sessions/{id}/end */
export const sessionEndRequestSchema = z.object({
  reason: z.string().max(500),
});
export type SessionEndRequest = z.infer<typeof sessionEndRequestSchema>;

/** A Kubernetes API request as the API server's authorizers see it (proxy-fleet/kubernetes/request-info.ts). */
export const kubernetesRequestSchema = z.object({
  /** False for discovery and other non-resource paths (/version, /api, /openapi/v3 …). */
  resourceRequest: z.boolean(),
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy; the lower-case HTTP method for non-resource paths. */
  verb: z.string().min(1).max(40),
  apiGroup: z.string().max(253),
  apiVersion: z.string().max(100),
  resource: z.string().max(253),
  subresource: z.string().max(100),
  namespace: z.string().max(253),
  name: z.string().max(1024),
  path: z.string().max(8192),
  /** exec: the command's argv, as the API server passes it to the container runtime. */
  command: z.array(z.string().max(65_536)).max(1024).optional(),
});
export type KubernetesRequestAttributes = z.infer<typeof kubernetesRequestSchema>;

/**
 * POST /v1/authorize takes a batch so that commands from many sessions can share one
 * round trip and one durable write (group commit).
 */
/**
 * sql.query: a simple-protocol Query (one or more statements); sql.execute: an extended-protocol
 * Execute of a bound statement. ssh.exec: a command line run by ssh exec; ssh.shell: an
 * interactive shell; ssh.line: a line typed at such a shell (recorded, decided, not enforced);
 * ssh.sftp: one file operation; ssh.forward: a port-forwarding channel. k8s.request: one
 * Kubernetes API request (a watch, a log stream or an exec session counts as one).
 */
export const commandKindSchema = z.enum(['sql.query', 'sql.execute', 'ssh.exec', 'ssh.shell', 'ssh.line', 'ssh.sftp', 'ssh.forward', 'k8s.request']);
export type CommandKind = z.infer<typeof commandKindSchema>;
export const authorizeCommandSchema = z.object({
  sessionId: z.string().min(1),
  /** Unique within the session; the proxy counts protocol messages. */
  commandId: z.number().int().nonnegative(),
  kind: commandKindSchema,
  text: z.string().max(1_048_576),
  /** An Execute's bound parameters in text form (binary ones base64, prefixed "base64:"); null is SQL NULL. Recorded masked only. */
  parameters: z.array(z.string().max(1_048_576).nullable()).max(65_535).optional(),
  /** Asks again for a command that was held, now that this approval was given: it is used once. */
  approvalId: z.string().min(1).max(100).optional(),
  /** ssh.sftp: the operation (open-read, open-write, remove, rename, mkdir, rmdir, setstat, symlink) and its paths. */
  sftp: z.object({ operation: z.string().max(40), path: z.string().max(4096), targetPath: z.string().max(4096).optional() }).optional(),
  /** ssh.forward: where the channel goes (local forwarding) or what the server would listen on (remote). */
  forward: z.object({ direction: z.enum(['local', 'remote']), host: z.string().max(255), port: z.number().int().min(0).max(65_535) }).optional(),
  /** ssh.line: the line was edited in ways the gateway cannot follow (history, completion). */
  inexact: z.boolean().optional(),
  /** k8s.request: the attributes the API server authorizes on; `text` is the request line (method and path with query). */
  kubernetes: kubernetesRequestSchema.optional(),
});
export const authorizeRequestSchema = z.object({
  commands: z.array(authorizeCommandSchema).min(1).max(1000),
});
export type AuthorizeCommand = z.infer<typeof authorizeCommandSchema>;
export type AuthorizeRequest = z.infer<typeof authorizeRequestSchema>;

/** approval: nothing ran; the command waits until approval `approval.id` is decided (POST /v1/approvals/status). */
export const decisionSchema = z.enum(['allow', 'deny', 'approval']);
export type Decision = z.infer<typeof decisionSchema>;

export const statementDecisionSchema = z.object({
  index: z.number().int(),
  decision: decisionSchema,
  reason: z.string().optional(),
  /** Ledger entry id (`session/seq`) that records this statement. */
  entry: z.string(),
});

export const commandDecisionSchema = z.object({
  sessionId: z.string(),
  commandId: z.number().int(),
  /** allow only if every statement in the command is allowed: a command is forwarded whole or not at all. */
  decision: decisionSchema,
  reason: z.string().optional(),
  /** Set when the control plane could not decide (e.g. STORE_UNAVAILABLE): a denial that recorded nothing. */
  error: z.string().optional(),
  approval: z.object({ id: z.string(), url: z.string(), expiresAt: z.string() }).optional(),
  statements: z.array(statementDecisionSchema),
});
export type CommandDecision = z.infer<typeof commandDecisionSchema>;

export const authorizeResponseSchema = z.object({
  results: z.array(commandDecisionSchema),
});
export type AuthorizeResponse = z.infer<typeof authorizeResponseSchema>;

/** POST /v1/sessions/status — the proxy asks, every few seconds, which of its sessions must end. */
export const sessionStatusRequestSchema = z.object({ sessionIds: z.array(z.string().min(1)).max(10_000) });
export const sessionStatusResponseSchema = z.object({
  /** Sessions to end now, and why: the token or its chain was revoked, or the token expired. */
  end: z.array(z.object({ sessionId: z.string(), reason: z.string() })),
});
export type SessionStatusResponse = z.infer<typeof sessionStatusResponseSchema>;

export const approvalStatusSchema = z.enum(['pending', 'approved', 'denied', 'expired', 'used']);
export type ApprovalStatus = z.infer<typeof approvalStatusSchema>;

/** POST /v1/approvals/status — the proxy asks how the approvals its held commands wait for stand. */
export const approvalStatusRequestSchema = z.object({ ids: z.array(z.string().min(1).max(100)).min(1).max(1000) });
export const approvalStatusResponseSchema = z.object({
  approvals: z.array(z.object({ id: z.string(), status: approvalStatusSchema.or(z.literal('unknown')), summary: z.string() })),
});
export type ApprovalStatusResponse = z.infer<typeof approvalStatusResponseSchema>;

/** POST /v1/approvals/{id}/approve and …/deny — an approver's decision, with the approver's Warden token as bearer. */
export const approvalDecisionRequestSchema = z.object({ reason: z.string().trim().min(1, 'give a reason').max(500) });

/** POST /v1/grants — ask for a just-in-time grant, with the requester's Warden token as bearer. */
export const grantRequestSchema = z.object({
  connection: z.string().min(1).max(200),
  role: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'a role is 1 to 64 letters, digits, "_", ".", ":" or "-"'),
  seconds: z.number().int().positive(),
  justification: z.string().trim().min(1, 'say why you need it (--why)').max(500),
});
/** POST /v1/grants/{id}/revoke */
export const grantRevokeSchema = z.object({ reason: z.string().trim().min(1, 'give a reason').max(500) });

/** POST /v1/results — what each authorized command did, for its command.result entry. */
export const commandResultSchema = z.object({
  sessionId: z.string().min(1),
  commandId: z.number().int().nonnegative(),
  /** DataRows sent to the client (or rows a COPY moved). */
  rows: z.number().int().nonnegative(),
  /** The SQLSTATE when the command failed on the server. */
  error: z.string().regex(/^[0-9A-Z?]{5}$/).optional(),
  /** ssh: the remote command's exit status, or the signal that ended it. */
  exitStatus: z.number().int().optional(),
  exitSignal: z.string().max(40).optional(),
  /** Bytes sent to the client (ssh output, sftp reads) and from it (sftp writes). */
  bytesOut: z.number().int().nonnegative().optional(),
  bytesIn: z.number().int().nonnegative().optional(),
  /** Kubernetes: the HTTP status the client got (101 for an exec or attach that ran). */
  httpStatus: z.number().int().min(100).max(599).optional(),
  /** How long the command's response streamed: a watch, a followed log, an exec session. */
  durationMs: z.number().int().nonnegative().optional(),
  /** ssh shell: the session recording (asciicast v2) and the SHA-256 of its bytes. */
  recording: z.object({ path: z.string().max(1024), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() }).optional(),
  /** Values masked, per detector or column rule: counts only, never values. */
  masked: z.record(z.string(), z.number().int().nonnegative()),
});
export type CommandResult = z.infer<typeof commandResultSchema>;
export const resultsRequestSchema = z.object({ results: z.array(commandResultSchema).min(1).max(1000) });

/**
 * POST /v1/recordings — where the proxy puts a finished session recording when recordings leave
 * the proxy (in AWS, a task's disk does not outlive it). The answer is a presigned PUT that
 * only takes a body with this SHA-256, under Object Lock, and never replaces an object.
 */
export const recordingUploadRequestSchema = z.object({
  sessionId: z.string().min(1).max(200),
  commandId: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative().max(5 * 1024 ** 3),
});
export type RecordingUploadRequest = z.infer<typeof recordingUploadRequestSchema>;
export const recordingUploadResponseSchema = z.object({
  /** The name to record as the result's recording path: readers look it up by this name. */
  name: z.string(),
  url: z.url(),
  /** Send exactly these with the PUT: they are signed. */
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
});
export type RecordingUploadResponse = z.infer<typeof recordingUploadResponseSchema>;

/** Every non-2xx answer of the control plane has this body. */
export const apiErrorSchema = z.object({
  error: z.string(),
  message: z.string(),
});
export type ApiError = z.infer<typeof apiErrorSchema>;
