/**
 * Slack as the reviewers' inbox: request signing, the Block Kit messages for an approval
 * request and its outcome, and the parsing of a reviewer's click. Pure apart from
 * postToSlack; nothing here reads the store.
 *
 * Everything a requester controls (identity, connection, justification, command) is
 * rendered so that it cannot forge the message around it: no mentions, links or formatting
 * in mrkdwn, no fake lines, and no invisible reordering of the command.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { WardenError } from '../../core/errors.js';

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

// ---------------------------------------------------------------------------------------------
// Request signing (Slack docs, "Verifying requests from Slack": v0 scheme, 5-minute window)

const MAX_CLOCK_SKEW_SECONDS = 300;

export function verifySlackSignature(input: { signingSecret: string; timestamp: string | undefined; signature: string | undefined; body: string; now: number }): void {
  const { timestamp, signature } = input;
  if (timestamp === undefined || timestamp === '') {
    throw new WardenError('INVALID_SIGNATURE', 'the request has no X-Slack-Request-Timestamp header: only Slack may call this endpoint; set it as the Slack app\'s Interactivity Request URL and let no proxy strip headers');
  }
  if (signature === undefined || signature === '') {
    throw new WardenError('INVALID_SIGNATURE', 'the request has no X-Slack-Signature header: only Slack may call this endpoint; set it as the Slack app\'s Interactivity Request URL and let no proxy strip headers');
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw new WardenError('INVALID_SIGNATURE', `X-Slack-Request-Timestamp ${JSON.stringify(timestamp.slice(0, 40))} is not a Unix time in whole seconds, as Slack sends it`);
  }
  const skew = Math.floor(input.now / 1000) - Number(timestamp);
  if (skew > MAX_CLOCK_SKEW_SECONDS) {
    throw new WardenError('INVALID_SIGNATURE', `the request is stale: signed ${skew} s ago, more than ${MAX_CLOCK_SKEW_SECONDS} s (replay protection); if Slack sent it just now, fix this server's clock (NTP)`);
  }
  if (-skew > MAX_CLOCK_SKEW_SECONDS) {
    throw new WardenError('INVALID_SIGNATURE', `the request is signed ${-skew} s in the future, more than ${MAX_CLOCK_SKEW_SECONDS} s ahead; fix this server's clock (NTP)`);
  }
  if (!signature.startsWith('v0=')) {
    throw new WardenError('INVALID_SIGNATURE', `X-Slack-Signature uses an unknown signature scheme ${JSON.stringify(signature.split('=')[0]!.slice(0, 10))}; only Slack's v0 scheme is supported`);
  }
  const given = signature.slice(3);
  if (!/^[0-9a-fA-F]{64}$/.test(given)) {
    throw new WardenError('INVALID_SIGNATURE', 'X-Slack-Signature is not "v0=" followed by 64 hex digits (an HMAC-SHA256); the request was not signed by Slack');
  }
  const expected = createHmac('sha256', input.signingSecret).update(`v0:${timestamp}:${input.body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) {
    throw new WardenError('INVALID_SIGNATURE', 'X-Slack-Signature does not match the body: the configured signing secret differs from the Slack app\'s (Basic Information → Signing Secret), or the body was altered on the way');
  }
}

// ---------------------------------------------------------------------------------------------
// Escaping

const ZWSP = '\u200B';

/**
 * Characters a reviewer would not see, or that reorder what they see (Trojan Source):
 * C0/C1 controls except \t and \n, bidi controls, zero-width characters, line separators.
 */
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028\u2029\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/u;

/** One code point, with an invisible one shown as `\u{202E}`. */
function visibleChar(ch: string): string {
  return INVISIBLE.test(ch) ? `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}}` : ch;
}

function mrkdwnChar(ch: string): string {
  switch (ch) {
    // Slack's documented escaping: only these three are control characters in mrkdwn.
    case '&':
      return '&amp;';
    case '<':
      return '&lt;';
    case '>':
      return '&gt;';
    // Slack documents no escape for formatting characters. Zero-width spaces on both sides
    // leave no word boundary on which a `*`, `_`, `~` or backtick could open or close a span.
    case '*':
    case '_':
    case '~':
    case '`':
      return `${ZWSP}${ch}${ZWSP}`;
    default:
      return visibleChar(ch);
  }
}

/** Text safe to place inside a mrkdwn text object: no links, mentions, formatting or invisible characters. Newlines are kept. */
export function escapeMrkdwn(text: string): string {
  return Array.from(text, mrkdwnChar).join('');
}

/** Escapes `text` code point by code point and stops before the output would pass `budget` characters, saying how many were cut. */
function escapeWithin(text: string, escapeChar: (ch: string) => string, budget: number): string {
  const chars = Array.from(text);
  let out = '';
  for (const [index, ch] of chars.entries()) {
    const piece = escapeChar(ch);
    if (out.length + piece.length > budget) return `${out}…[${chars.length - index} more characters]`;
    out += piece;
  }
  return out;
}

/** A single-line field for mrkdwn: line breaks become spaces, so it cannot start a line of its own. */
function field(text: string, budget: number): string {
  return escapeWithin(text.replace(/\r\n|[\r\n\u0085\u2028\u2029]/g, ' '), mrkdwnChar, budget);
}

const COMMAND_BUDGET = 2500;

/** The command as shown: invisible characters made visible, cut at 2,500 characters (a rich text element holds well under 4,000). */
function shownCommand(command: string): string {
  return command === '' ? '(empty command)' : escapeWithin(command, visibleChar, COMMAND_BUDGET);
}

/** A link target for `<url|label>`: http(s) only, and nothing that could close the link early. */
function linkTarget(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`the approval link ${JSON.stringify(url.slice(0, 200))} is not an absolute URL; set approvals.publicUrl to the address reviewers can reach`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new Error(`the approval link must be http(s), not ${parsed.protocol}; set approvals.publicUrl to the address reviewers can reach`);
  }
  // The URL parser already percent-encodes spaces, < and >; | would end the target early.
  return parsed.href.replaceAll('&', '&amp;').replaceAll('|', '%7C');
}

// ---------------------------------------------------------------------------------------------
// Messages

export interface ApprovalMessageInput {
  id: string;
  requester: { sub: string; actors: string[]; chain: string };
  connection: string;
  /** Already masked. */
  command: string;
  policyReason: string;
  justification?: string;
  approversNeeded: number;
  approverGroups: string[];
  /** ISO 8601. */
  expiresAt: string;
  url: string;
}

export type ApprovalStatus = 'approved' | 'denied' | 'expired' | 'pending';

export interface ApprovalDecision {
  approver: string;
  decision: 'approve' | 'deny';
  reason?: string;
  at: string;
}

/** The longest reason a reviewer may give; the input box enforces it too. */
const MAX_REASON = 500;

const mrkdwnSection = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } });
const header = (text: string) => ({ type: 'header', text: { type: 'plain_text', text: text.slice(0, 150), emoji: false } });

const MAX_SHOWN_ACTORS = 8;

/** `alice ← agent-1 ← agent-2`; an arrow inside a name is shown escaped, so no name can pose as a longer chain. */
function requesterChain(requester: ApprovalMessageInput['requester'], budgetPerName: number): string {
  const name = (text: string) => field(text.replaceAll('←', '\\u{2190}'), budgetPerName);
  const shown = [requester.sub, ...requester.actors.slice(0, MAX_SHOWN_ACTORS)].map(name);
  const hidden = requester.actors.length - MAX_SHOWN_ACTORS;
  return shown.join(' ← ') + (hidden > 0 ? ` ← …[${hidden} more agents]` : '');
}

function expiry(expiresAt: string): string {
  const ms = Date.parse(expiresAt);
  const shown = field(expiresAt, 60);
  // Slack's date token shows the time in each reader's own zone; the ISO text is the fallback.
  return Number.isNaN(ms) ? shown : `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${shown}>`;
}

function contextBlocks(input: ApprovalMessageInput): unknown[] {
  const justification = input.justification?.trim();
  const groups = input.approverGroups.length > 0 ? ` from ${field(input.approverGroups.join(', '), 200)}` : '';
  const lines = [
    `*Requester:* ${requesterChain(input.requester, 60)}`,
    `*Chain:* ${field(input.requester.chain, 150)}`,
    `*Connection:* ${field(input.connection, 150)}`,
    `*Policy:* ${field(input.policyReason, 400)}`,
    `*Justification:* ${justification ? field(justification, 700) : 'none given'}`,
    `*Approvals needed:* ${input.approversNeeded}${groups}`,
    `*Expires:* ${expiry(input.expiresAt)}`,
    `<${linkTarget(input.url)}|Open in Warden>`,
    '*Command* (masked):',
  ];
  return [
    mrkdwnSection(lines.join('\n')),
    // Preformatted rich text is literal: Slack parses no mrkdwn, links or mentions in it.
    { type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: shownCommand(input.command) }] }] },
  ];
}

function decisionBlocks(id: string): unknown[] {
  return [
    {
      type: 'input',
      block_id: 'warden_reason',
      optional: true,
      label: { type: 'plain_text', text: 'Reason (needed to deny)' },
      element: { type: 'plain_text_input', action_id: 'reason', max_length: MAX_REASON },
    },
    {
      type: 'actions',
      block_id: 'warden_decision',
      elements: [
        { type: 'button', action_id: 'approve', style: 'primary', value: id, text: { type: 'plain_text', text: 'Approve' } },
        { type: 'button', action_id: 'deny', style: 'danger', value: id, text: { type: 'plain_text', text: 'Deny' } },
      ],
    },
  ];
}

function summary(input: ApprovalMessageInput): string {
  return `${requesterChain(input.requester, 40)} on ${field(input.connection, 100)}`;
}

export function approvalRequestMessage(input: ApprovalMessageInput): SlackMessage {
  return {
    text: `Approval needed: ${summary(input)}`,
    blocks: [header('Approval needed'), ...contextBlocks(input), ...decisionBlocks(input.id)],
  };
}

const MAX_LISTED_DECISIONS = 5;

function approverList(decisions: ApprovalDecision[]): string {
  const listed = decisions.slice(0, MAX_LISTED_DECISIONS).map((d) => {
    const reason = d.reason?.trim();
    return field(d.approver, 100) + (reason ? ` (${field(reason, 300)})` : '');
  });
  const more = decisions.length - listed.length;
  return listed.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function outcomeLine(input: ApprovalMessageInput, outcome: { status: ApprovalStatus; decisions: ApprovalDecision[] }): string {
  const approvals = outcome.decisions.filter((d) => d.decision === 'approve');
  const denial = outcome.decisions.find((d) => d.decision === 'deny');
  switch (outcome.status) {
    case 'approved':
      return approvals.length > 0 ? `*Approved* by ${approverList(approvals)}` : '*Approved*';
    case 'denied': {
      const reason = denial?.reason?.trim();
      return denial ? `*Denied* by ${field(denial.approver, 100)}: ${reason ? field(reason, MAX_REASON) : 'no reason given'}` : '*Denied*';
    }
    case 'expired':
      return approvals.length > 0 ? `*Expired* with ${approvals.length} of ${input.approversNeeded} approvals: ${approverList(approvals)}` : '*Expired* with no decision';
    case 'pending':
      return approvals.length > 0 ? `${approvals.length} of ${input.approversNeeded} approvals so far: ${approverList(approvals)}` : `0 of ${input.approversNeeded} approvals so far`;
  }
}

const headerByStatus: Record<ApprovalStatus, string> = { approved: 'Approved', denied: 'Denied', expired: 'Expired', pending: 'Approval needed' };

/** The message that replaces the original through response_url; the buttons stay only while the request is pending. */
export function decisionMessage(
  input: ApprovalMessageInput,
  outcome: { status: ApprovalStatus; decisions: ApprovalDecision[] },
): SlackMessage & { replace_original: true } {
  return {
    replace_original: true,
    text: `${headerByStatus[outcome.status]}: ${summary(input)}`,
    blocks: [
      header(headerByStatus[outcome.status]),
      mrkdwnSection(outcomeLine(input, outcome)),
      ...contextBlocks(input),
      ...(outcome.status === 'pending' ? decisionBlocks(input.id) : []),
    ],
  };
}

export function reasonRequiredMessage(): { response_type: 'ephemeral'; replace_original: false; text: string } {
  return { response_type: 'ephemeral', replace_original: false, text: 'Denying needs a reason: type a reason in the Reason box, then press Deny again.' };
}

// ---------------------------------------------------------------------------------------------
// Interactions (Slack docs, "Handling user interaction": form-encoded, one `payload` field of JSON)

export interface SlackInteraction {
  slackUserId: string;
  responseUrl: string;
  approvalId: string;
  decision: 'approve' | 'deny';
  reason?: string;
}

const interactionSchema = z.object({
  type: z.literal('block_actions', { error: 'only block_actions (a click on Approve or Deny) is handled here' }),
  user: z.object({ id: z.string().min(1) }),
  response_url: z.string().min(1),
  actions: z.tuple(
    [
      z.object({
        action_id: z.enum(['approve', 'deny'], { error: 'only the approve and deny buttons are handled here' }),
        value: z.string().min(1).max(100),
      }),
    ],
    z.unknown(),
  ),
  state: z
    .object({
      values: z.object({
        warden_reason: z.object({ reason: z.object({ value: z.string().nullish() }) }).optional(),
      }),
    })
    .optional(),
});

export function parseInteraction(body: string, options: { responseUrlPrefix: string }): SlackInteraction {
  const payload = new URLSearchParams(body).get('payload');
  if (payload === null) {
    throw new WardenError('INVALID_REQUEST', 'the body has no payload field: Slack sends interactions form-encoded as payload=<JSON>; only the Slack app\'s Interactivity Request URL should point here');
  }
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new WardenError('INVALID_REQUEST', 'the payload field is not JSON: only the Slack app\'s Interactivity Request URL should point here');
  }
  const parsed = interactionSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`);
    throw new WardenError('INVALID_REQUEST', `not an interaction with a Warden approval message: ${issues.join('; ')}`);
  }
  const { user, response_url: responseUrl, actions, state } = parsed.data;
  if (!isUnder(responseUrl, options.responseUrlPrefix)) {
    throw new WardenError('INVALID_REQUEST', `response_url is not under ${options.responseUrlPrefix}: Warden only answers Slack's own response URLs; if Slack really sent this, set approvals.slack.responseUrlPrefix`);
  }
  const reason = state?.values.warden_reason?.reason.value?.trim();
  if (reason !== undefined && reason.length > MAX_REASON) {
    throw new WardenError('INVALID_REQUEST', `the reason has ${reason.length} characters, more than ${MAX_REASON}; shorten it and press the button again`);
  }
  return {
    slackUserId: user.id,
    responseUrl,
    approvalId: actions[0].value,
    decision: actions[0].action_id,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Compared as parsed, normalised URLs: `../` cannot climb out of the prefix, and since a parsed
 * prefix always ends its host with "/", a prefix typed without one cannot stretch onto another host.
 */
function isUnder(url: string, prefix: string): boolean {
  return URL.canParse(url) && URL.canParse(prefix) && new URL(url).href.startsWith(new URL(prefix).href);
}

// ---------------------------------------------------------------------------------------------
// Delivery

const POST_TIMEOUT_MS = 5000;

/** POSTs a message to an incoming webhook or a response_url. Errors name only the origin: the path of a webhook URL is a secret. */
export async function postToSlack(url: string, message: object): Promise<void> {
  if (!URL.canParse(url)) throw new Error('the Slack URL is not an absolute URL; check the webhook URL setting');
  const origin = new URL(url).origin;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
  } catch (error) {
    // Not chained as the cause: a fetch error can carry the full URL.
    const why = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${POST_TIMEOUT_MS / 1000} s` : describeFetchError(error);
    throw new Error(`posting to Slack at ${origin} failed: ${why}`);
  }
  const answer = await response.text().catch(() => '');
  if (!response.ok) {
    const detail = answer ? ` (${escapeWithin(answer, visibleChar, 200)})` : '';
    throw new Error(`Slack at ${origin} answered HTTP ${response.status}${detail}; check the webhook URL and the message`);
  }
}

function describeFetchError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : 'the request did not complete';
}
