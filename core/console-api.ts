/**
 * The read API behind the web console (web/): sessions, their commands and recordings, and the
 * ledger's status. Everything here is read from integrated ledger entries, which hold masked
 * text and digests only (core/ledger/entry.ts), and from recordings the gateway wrote after
 * masking; no raw payload can reach a reader through it.
 *
 * Who may read is decided by group (config `console`): readers (auditors) see sessions,
 * recordings, grants and the ledger; approvers see pending approvals and decide them through
 * the approvals API. The control plane answers a caller outside those groups with 403.
 */
import { z } from 'zod';
import { identityChainSchema } from './contract.js';

/** GET /v1/sessions — query parameters. Times are ISO 8601; a session matches when it started in [from, to]. */
export const sessionQuerySchema = z.object({
  /** Matches the chain's root `sub` or any actor's `sub`, exactly. */
  identity: z.string().min(1).max(200).optional(),
  chain: z.string().min(1).max(200).optional(),
  connection: z.string().min(1).max(200).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number<string>().int().min(1).max(500).default(100),
});
export type SessionQuery = z.infer<typeof sessionQuerySchema>;

export const maskedCountsSchema = z.record(z.string(), z.number().int().nonnegative());

export const sessionSummarySchema = z.object({
  id: z.string(),
  identity: identityChainSchema,
  connection: z.string(),
  /** postgres, ssh or kubernetes, from session.start; absent when the start is not integrated yet. */
  protocol: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Why the session ended, as the gateway recorded it (client closed, revoked, expired…). */
  endReason: z.string().optional(),
  justification: z.string().optional(),
  commands: z.number().int().nonnegative(),
  denied: z.number().int().nonnegative(),
  held: z.number().int().nonnegative(),
  /** Values masked in the session's results, all rules together. */
  masked: z.number().int().nonnegative(),
  /** Whether any command of the session has a recording (SSH shells). */
  recorded: z.boolean(),
});
export type SessionSummary = z.infer<typeof sessionSummarySchema>;

export const sessionListSchema = z.object({
  sessions: z.array(sessionSummarySchema),
  /** More sessions matched than `limit`; narrow the query. Newest first. */
  truncated: z.boolean(),
});
export type SessionList = z.infer<typeof sessionListSchema>;

/** One statement of a command as the ledger holds it: masked text and the decision. */
export const statementViewSchema = z.object({
  /** The ledger entry id (b<batch>.<position>) and its index in the Merkle tree. */
  entryId: z.string(),
  index: z.number().int().nonnegative(),
  time: z.string(),
  text: z.string(),
  decision: z.string(),
  reason: z.string().optional(),
  policies: z.array(z.string()),
  policyVersion: z.string().optional(),
  /** Facts the policy judged (tables, programs, verb…): the entry's data without the fields above. */
  facts: z.record(z.string(), z.unknown()),
});

export const commandViewSchema = z.object({
  commandId: z.number().int().nonnegative(),
  /** sql.query, ssh.exec, ssh.shell, ssh.line, k8s.request… */
  kind: z.string(),
  time: z.string(),
  statements: z.array(statementViewSchema),
  result: z
    .object({
      time: z.string(),
      rows: z.number().int().optional(),
      error: z.string().optional(),
      exitStatus: z.number().int().optional(),
      exitSignal: z.string().optional(),
      bytesOut: z.number().int().optional(),
      bytesIn: z.number().int().optional(),
      httpStatus: z.number().int().optional(),
      durationMs: z.number().int().optional(),
      masked: maskedCountsSchema,
      /** Present when the command was recorded: fetch it from GET /v1/sessions/{id}/recordings/{commandId}. */
      recording: z.object({ sha256: z.string(), bytes: z.number().int() }).optional(),
    })
    .optional(),
});
export type CommandView = z.infer<typeof commandViewSchema>;

/** GET /v1/sessions/{id} */
export const sessionDetailSchema = z.object({
  session: sessionSummarySchema,
  /** In the order they were decided. */
  commands: z.array(commandViewSchema),
  /** Masked values per rule, over the whole session. */
  masked: maskedCountsSchema,
});
export type SessionDetail = z.infer<typeof sessionDetailSchema>;

/*
 * GET /v1/sessions/{id}/recordings/{commandId} answers the asciicast v2 text
 * (application/x-asciicast), checked against the SHA-256 the ledger holds: a recording that does
 * not match is refused (409), never shown.
 */

/** One named check of the ledger's status; `detail` says what was found. */
export const ledgerCheckSchema = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });

/** GET /v1/ledger/status */
export const ledgerStatusSchema = z.object({
  /** Entries integrated into the Merkle tree. */
  treeSize: z.number().int().nonnegative(),
  /** RFC 9162 root hash of the integrated tree, hex. */
  rootHash: z.string(),
  checkpoint: z
    .object({
      size: z.number().int().nonnegative(),
      rootHash: z.string(),
      origin: z.string(),
      /** The signed note, as `warden verify --checkpoint` reads it. */
      note: z.string(),
    })
    .optional(),
  /** The log's public key (a signed-note verifier key). */
  verifierKey: z.string(),
  verification: z.object({ ok: z.boolean(), checkedAt: z.string(), checks: z.array(ledgerCheckSchema) }),
});
export type LedgerStatus = z.infer<typeof ledgerStatusSchema>;

/** GET /v1/console/whoami — what the signed-in caller may do in the console. */
export const consoleAccessSchema = z.object({
  sub: z.string(),
  groups: z.array(z.string()),
  /** May read sessions, recordings, grants and the ledger. */
  read: z.boolean(),
  /** May decide approvals (each approval still checks its own approver groups). */
  approve: z.boolean(),
});
export type ConsoleAccess = z.infer<typeof consoleAccessSchema>;
