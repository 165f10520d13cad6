import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WardenError, type WardenErrorCode } from '../../../core/errors.js';
import {
  approvalRequestMessage,
  decisionMessage,
  escapeMrkdwn,
  parseInteraction,
  postToSlack,
  reasonRequiredMessage,
  verifySlackSignature,
  type ApprovalMessageInput,
} from '../../../functions/lib/slack.js';
import { startFakeSlack, type FakeSlack } from '../../helpers/fake-slack.js';

const ZWSP = '\u200B';

function throwsWarden(fn: () => unknown, code: WardenErrorCode, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof WardenError, `expected a WardenError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

/** Every text object and rich text string in the blocks, by kind. */
function texts(blocks: unknown): { mrkdwn: string[]; plain: string[]; rich: string[] } {
  const found = { mrkdwn: [] as string[], plain: [] as string[], rich: [] as string[] };
  const walk = (node: unknown, inRichText: boolean): void => {
    if (Array.isArray(node)) return node.forEach((item) => walk(item, inRichText));
    if (typeof node !== 'object' || node === null) return;
    const object = node as Record<string, unknown>;
    const rich = inRichText || object.type === 'rich_text';
    if (typeof object.text === 'string') {
      if (object.type === 'mrkdwn') found.mrkdwn.push(object.text);
      else if (object.type === 'plain_text') found.plain.push(object.text);
      else if (rich && object.type === 'text') found.rich.push(object.text);
    }
    for (const value of Object.values(object)) walk(value, rich);
  };
  walk(blocks, false);
  return found;
}

type Block = { type: string; block_id?: string; elements?: any[]; text?: { text: string } };
const blocksOf = (message: { blocks: unknown[] }) => message.blocks as Block[];
const preformatted = (message: { blocks: unknown[] }): string => {
  const rich = blocksOf(message).filter((b) => b.type === 'rich_text');
  assert.equal(rich.length, 1);
  const [element] = rich[0]!.elements!;
  assert.equal(element.type, 'rich_text_preformatted');
  assert.equal(element.elements.length, 1);
  assert.equal(element.elements[0].type, 'text');
  return element.elements[0].text;
};
/** The value after `*Label:* ` in the context section, up to the end of its line. */
const labelled = (message: { blocks: unknown[] }, label: string): string => {
  const section = blocksOf(message).find((b) => b.type === 'section' && b.text!.text.startsWith('*Requester:*'))!;
  const line = section.text!.text.split('\n').find((l) => l.startsWith(`*${label}:* `));
  assert.ok(line, `no ${label} line in ${section.text!.text}`);
  return line.slice(`*${label}:* `.length);
};
/** True when every formatting character is fenced by zero-width spaces. */
const noLiveFormatting = (text: string) => !/(?<!\u200B)[*_~`]|[*_~`](?!\u200B)/.test(text);

const base: ApprovalMessageInput = {
  id: 'apr_01HX',
  requester: { sub: 'alice', actors: ['agent-1', 'agent-2'], chain: 'chn_42' },
  connection: 'prod-db',
  command: 'DELETE FROM orders WHERE id = $1',
  policyReason: 'writes to prod need a second pair of eyes',
  justification: 'cleanup of a duplicated order',
  approversNeeded: 2,
  approverGroups: ['dba', 'security'],
  expiresAt: '2030-01-02T03:04:05.000Z',
  url: 'https://warden.example/approvals/apr_01HX',
};

describe('verifySlackSignature', () => {
  const signingSecret = '8f742231b10e8888abcd99yyyzzz85a5';
  const now = 1_700_000_000_000;
  const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
  const sign = (secret: string, timestamp: string, signed: string) => `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${signed}`).digest('hex')}`;
  const timestamp = String(now / 1000);
  const good = { signingSecret, timestamp, signature: sign(signingSecret, timestamp, body), body, now };

  it('accepts a correctly signed body, up to 300 s either side', () => {
    verifySlackSignature(good);
    for (const skew of [-300, 300]) {
      const ts = String(now / 1000 + skew);
      verifySlackSignature({ ...good, timestamp: ts, signature: sign(signingSecret, ts, body) });
    }
  });

  it('refuses a signature made with another secret', () => {
    throwsWarden(() => verifySlackSignature({ ...good, signature: sign('another-secret', timestamp, body) }), 'INVALID_SIGNATURE', /does not match.*signing secret/);
  });

  it('refuses a body changed by one byte', () => {
    throwsWarden(() => verifySlackSignature({ ...good, body: body.replace('block', 'blocj') }), 'INVALID_SIGNATURE', /does not match/);
  });

  it('refuses a timestamp 301 s old and one 301 s in the future', () => {
    for (const [skew, pattern] of [[-301, /stale: signed 301 s ago/], [301, /301 s in the future/]] as const) {
      const ts = String(now / 1000 + skew);
      throwsWarden(() => verifySlackSignature({ ...good, timestamp: ts, signature: sign(signingSecret, ts, body) }), 'INVALID_SIGNATURE', pattern);
    }
  });

  it('refuses missing headers', () => {
    throwsWarden(() => verifySlackSignature({ ...good, signature: undefined }), 'INVALID_SIGNATURE', /no X-Slack-Signature header/);
    throwsWarden(() => verifySlackSignature({ ...good, timestamp: undefined }), 'INVALID_SIGNATURE', /no X-Slack-Request-Timestamp header/);
    throwsWarden(() => verifySlackSignature({ ...good, timestamp: '' }), 'INVALID_SIGNATURE', /no X-Slack-Request-Timestamp header/);
  });

  it('refuses a timestamp that is not whole seconds', () => {
    for (const ts of ['1700000000.5', '1700000000000x', 'yesterday', '-1700000000']) {
      throwsWarden(() => verifySlackSignature({ ...good, timestamp: ts, signature: sign(signingSecret, ts, body) }), 'INVALID_SIGNATURE', /not a Unix time in whole seconds/);
    }
  });

  it('refuses malformed and short v0 signatures without any other error', () => {
    const hex = good.signature.slice(3);
    for (const signature of ['v0=' + 'z'.repeat(64), 'v0=' + hex.slice(0, 62), 'v0=' + hex + '00', 'v0=', 'v0=' + hex.slice(0, 63) + 'g']) {
      throwsWarden(() => verifySlackSignature({ ...good, signature }), 'INVALID_SIGNATURE', /not "v0=" followed by 64 hex digits/);
    }
  });

  it('refuses another signature scheme', () => {
    throwsWarden(() => verifySlackSignature({ ...good, signature: 'v1=' + good.signature.slice(3) }), 'INVALID_SIGNATURE', /unknown signature scheme "v1"/);
  });
});

describe('escapeMrkdwn', () => {
  it('escapes Slack control characters and fences formatting characters', () => {
    assert.equal(escapeMrkdwn('a & <b> *c*'), `a &amp; &lt;b&gt; ${ZWSP}*${ZWSP}c${ZWSP}*${ZWSP}`);
    assert.equal(escapeMrkdwn('_~`'), `${ZWSP}_${ZWSP}${ZWSP}~${ZWSP}${ZWSP}\`${ZWSP}`);
    assert.equal(escapeMrkdwn('x\u202Ey\u0007'), 'x\\u{202E}y\\u{0007}');
    assert.equal(escapeMrkdwn('tab\tand\nnewline stay'), 'tab\tand\nnewline stay');
  });
});

describe('approvalRequestMessage', () => {
  it('shows the request: chain in order, context, command, reason box and buttons', () => {
    const message = approvalRequestMessage(base);
    const blocks = blocksOf(message);
    assert.deepEqual(
      blocks.map((b) => b.type),
      ['header', 'section', 'rich_text', 'input', 'actions'],
    );
    assert.equal(blocks[0]!.text!.text, 'Approval needed');
    assert.equal(labelled(message, 'Requester'), 'alice ← agent-1 ← agent-2');
    assert.equal(labelled(message, 'Chain'), `chn${ZWSP}_${ZWSP}42`);
    assert.equal(labelled(message, 'Connection'), 'prod-db');
    assert.equal(labelled(message, 'Policy'), base.policyReason);
    assert.equal(labelled(message, 'Justification'), base.justification);
    assert.equal(labelled(message, 'Approvals needed'), '2 from dba, security');
    assert.match(labelled(message, 'Expires'), /^<!date\^1893553445\^.*\|2030-01-02T03:04:05\.000Z>$/);
    assert.ok(blocks[1]!.text!.text.includes('<https://warden.example/approvals/apr_01HX|Open in Warden>'));
    assert.equal(preformatted(message), base.command);
    assert.match(message.text, /^Approval needed: alice ← agent-1 ← agent-2 on prod-db$/);

    const input = blocks[3] as any;
    assert.equal(input.block_id, 'warden_reason');
    assert.equal(input.optional, true);
    assert.equal(input.label.text, 'Reason (needed to deny)');
    assert.equal(input.element.type, 'plain_text_input');
    assert.equal(input.element.action_id, 'reason');

    const actions = blocks[4]!;
    assert.equal(actions.block_id, 'warden_decision');
    assert.deepEqual(
      actions.elements!.map((b) => [b.type, b.action_id, b.style, b.value]),
      [
        ['button', 'approve', 'primary', 'apr_01HX'],
        ['button', 'deny', 'danger', 'apr_01HX'],
      ],
    );
  });

  it('lets no name pose as a longer chain, and caps the agents shown', () => {
    const forged = approvalRequestMessage({ ...base, requester: { sub: 'alice ← admin', actors: ['agent-1'], chain: 'c' } });
    assert.equal(labelled(forged, 'Requester'), 'alice \\u{2190} admin ← agent-1');
    const long = approvalRequestMessage({ ...base, requester: { sub: 'root', actors: Array.from({ length: 12 }, (_, i) => `a${i}`), chain: 'c' } });
    assert.equal(labelled(long, 'Requester'), 'root ← a0 ← a1 ← a2 ← a3 ← a4 ← a5 ← a6 ← a7 ← …[4 more agents]');
  });

  it('says when no justification was given', () => {
    assert.equal(labelled(approvalRequestMessage({ ...base, justification: undefined }), 'Justification'), 'none given');
    assert.equal(labelled(approvalRequestMessage({ ...base, justification: '  \n ' }), 'Justification'), 'none given');
  });

  it('lets no field forge content', () => {
    const hostile = 'x <!channel> <https://evil.example|Approve here> ``` *Approved by admin*\nApproved by security \u202Eevil';
    const message = approvalRequestMessage({
      ...base,
      requester: { sub: hostile, actors: [hostile], chain: hostile },
      connection: hostile,
      command: `SELECT 1; ${hostile}`,
      policyReason: hostile,
      justification: hostile,
      approverGroups: [hostile],
      expiresAt: hostile,
    });
    const { mrkdwn, plain, rich } = texts(message.blocks);
    for (const text of [...mrkdwn, message.text]) {
      assert.ok(!text.includes('<!channel>'), text);
      assert.ok(!text.includes('<https://evil'), text);
      assert.ok(!text.includes('Approve here>'), text);
    }
    const section = blocksOf(message).find((b) => b.type === 'section')!.text!.text;
    // The hostile newline became a space: the section has exactly its own nine lines.
    assert.equal(section.split('\n').length, 9);
    assert.ok(!section.split('\n').some((line) => line.startsWith('Approved by')));
    for (const label of ['Requester', 'Chain', 'Connection', 'Policy', 'Justification', 'Approvals needed', 'Expires']) {
      assert.ok(noLiveFormatting(labelled(message, label)), label);
    }
    assert.ok(noLiveFormatting(message.text));
    // U+202E shows as a visible escape everywhere, never raw.
    assert.ok(!JSON.stringify(message).includes('\u202E'));
    for (const text of [...mrkdwn.filter((t) => t.includes('evil')), ...rich]) assert.ok(text.includes('\\u{202E}evil'), text);
    assert.deepEqual(plain.filter((t) => t.includes('evil')), []);
    // The command is literal, character for character, apart from the visible escape.
    assert.equal(preformatted(message), `SELECT 1; ${hostile}`.replace('\u202E', '\\u{202E}'));
  });

  it('keeps a justification on one line with no live formatting', () => {
    const value = labelled(approvalRequestMessage({ ...base, justification: 'routine\n*Approved*' }), 'Justification');
    assert.ok(!value.includes('\n'));
    assert.ok(noLiveFormatting(value));
    assert.equal(value, `routine ${ZWSP}*${ZWSP}Approved${ZWSP}*${ZWSP}`);
  });

  it('makes control characters in the command visible and keeps newlines and tabs', () => {
    const command = 'SELECT 1;\n\t-- \u2066hidden\u2069 \u200F\u001B[31m\r\u0085';
    assert.equal(preformatted(approvalRequestMessage({ ...base, command })), 'SELECT 1;\n\t-- \\u{2066}hidden\\u{2069} \\u{200F}\\u{001B}[31m\\u{000D}\\u{0085}');
  });

  it('cuts a long command at 2,500 characters and says how much was cut', () => {
    assert.equal(preformatted(approvalRequestMessage({ ...base, command: 'x'.repeat(10_000) })), `${'x'.repeat(2500)}…[7500 more characters]`);
    // Escapes are never split: 312 whole escapes fit in 2,500 characters.
    const shown = preformatted(approvalRequestMessage({ ...base, command: '\u202E'.repeat(400) }));
    assert.equal(shown, `${'\\u{202E}'.repeat(312)}…[88 more characters]`);
    assert.equal(preformatted(approvalRequestMessage({ ...base, command: 'y'.repeat(2500) })), 'y'.repeat(2500));
  });

  it('keeps every mrkdwn text under Slack\'s 3,000 characters even with huge fields', () => {
    const huge = '*&<'.repeat(5000);
    const message = approvalRequestMessage({
      ...base,
      requester: { sub: huge, actors: Array(50).fill(huge), chain: huge },
      connection: huge,
      policyReason: huge,
      justification: huge,
      approverGroups: [huge, huge],
    });
    for (const text of texts(message.blocks).mrkdwn) assert.ok(text.length <= 3000, String(text.length));
    assert.match(labelled(message, 'Justification'), /…\[\d+ more characters\]$/);
  });

  it('refuses a link that is not http(s)', () => {
    assert.throws(() => approvalRequestMessage({ ...base, url: 'javascript:alert(1)' }), /must be http\(s\)/);
    assert.throws(() => approvalRequestMessage({ ...base, url: '/approvals/1' }), /not an absolute URL/);
    const link = blocksOf(approvalRequestMessage({ ...base, url: 'https://warden.example/a?x=1&y=|>' })).find((b) => b.type === 'section')!.text!.text;
    assert.ok(link.includes('<https://warden.example/a?x=1&amp;y=%7C%3E|Open in Warden>'), link);
  });
});

describe('decisionMessage', () => {
  const approve = (approver: string, reason?: string) => ({ approver, decision: 'approve' as const, at: '2030-01-01T00:00:00Z', ...(reason ? { reason } : {}) });
  const deny = (approver: string, reason?: string) => ({ approver, decision: 'deny' as const, at: '2030-01-01T00:00:00Z', ...(reason ? { reason } : {}) });
  /** The outcome comes right after the header. */
  const outcomeText = (message: { blocks: unknown[] }) => {
    const [, outcome] = blocksOf(message);
    assert.equal(outcome!.type, 'section');
    return outcome!.text!.text;
  };

  it('drops the reason box and buttons once the request is decided', () => {
    for (const [status, decisions] of [['approved', [approve('alice'), approve('bob')]], ['denied', [deny('bob', 'no')]], ['expired', []]] as const) {
      const message = decisionMessage(base, { status, decisions: [...decisions] });
      assert.equal(message.replace_original, true);
      const types = blocksOf(message).map((b) => b.type);
      assert.ok(!types.includes('actions') && !types.includes('input'), `${status}: ${types.join(', ')}`);
      assert.ok(types.includes('rich_text'));
      assert.equal(labelled(message, 'Requester'), 'alice ← agent-1 ← agent-2');
      assert.equal(preformatted(message), base.command);
    }
  });

  it('keeps them while pending, and counts the approvals so far', () => {
    const message = decisionMessage(base, { status: 'pending', decisions: [approve('alice')] });
    const blocks = blocksOf(message);
    assert.deepEqual(blocks.slice(-2).map((b) => [b.type, b.block_id]), [['input', 'warden_reason'], ['actions', 'warden_decision']]);
    assert.equal(outcomeText(message), '1 of 2 approvals so far: alice');
    assert.equal(outcomeText(decisionMessage(base, { status: 'pending', decisions: [] })), '0 of 2 approvals so far');
  });

  it('names approvers and reasons, escaped', () => {
    assert.equal(outcomeText(decisionMessage(base, { status: 'approved', decisions: [approve('alice', 'ok *ship*'), approve('bob')] })), `*Approved* by alice (ok ${ZWSP}*${ZWSP}ship${ZWSP}*${ZWSP}), bob`);
    assert.equal(outcomeText(decisionMessage(base, { status: 'denied', decisions: [approve('alice'), deny('<!here>', 'not\nnow')] })), '*Denied* by &lt;!here&gt;: not now');
    assert.equal(outcomeText(decisionMessage(base, { status: 'expired', decisions: [] })), '*Expired* with no decision');
    assert.equal(outcomeText(decisionMessage(base, { status: 'expired', decisions: [approve('alice')] })), '*Expired* with 1 of 2 approvals: alice');
    assert.match(decisionMessage(base, { status: 'denied', decisions: [deny('bob', 'x')] }).text, /^Denied: alice/);
  });
});

describe('reasonRequiredMessage', () => {
  it('is an ephemeral hint that leaves the original alone', () => {
    const message = reasonRequiredMessage();
    assert.equal(message.response_type, 'ephemeral');
    assert.equal(message.replace_original, false);
    assert.match(message.text, /Reason box.*press Deny again/);
  });
});

describe('with a fake Slack', () => {
  let slack: FakeSlack;
  const signingSecret = 'test-signing-secret';
  before(async () => {
    slack = await startFakeSlack();
  });
  after(async () => {
    await slack.close();
  });

  /** The decoded payload of a real-shaped interaction, for tampering. */
  const payloadOf = (body: string) => JSON.parse(new URLSearchParams(body).get('payload')!);
  const form = (payload: unknown) => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const parse = (body: string) => parseInteraction(body, { responseUrlPrefix: slack.responseUrlPrefix });
  const click = (decision: 'approve' | 'deny', reason?: string) => slack.signedInteraction({ signingSecret, userId: 'U024BE7LH', approvalId: 'apr_01HX', decision, ...(reason === undefined ? {} : { reason }) });

  describe('parseInteraction', () => {
    it('parses approve, deny with a reason and deny without one', () => {
      const approved = parse(click('approve').body);
      assert.ok(approved.responseUrl.startsWith(slack.responseUrlPrefix));
      assert.deepEqual(approved, { slackUserId: 'U024BE7LH', responseUrl: approved.responseUrl, approvalId: 'apr_01HX', decision: 'approve' });
      assert.equal(parse(click('deny', '  disk is full \n').body).reason, 'disk is full');
      const noReason = parse(click('deny').body);
      assert.equal(payloadOf(click('deny').body).state.values.warden_reason.reason.value, null);
      assert.equal(noReason.decision, 'deny');
      assert.equal(noReason.reason, undefined);
      assert.equal(parse(click('deny', '   ').body).reason, undefined);
      assert.equal(parse(click('deny', 'r'.repeat(500)).body).reason, 'r'.repeat(500));
    });

    it('parses a payload with no state at all', () => {
      const payload = payloadOf(click('approve').body);
      delete payload.state;
      assert.equal(parse(form(payload)).reason, undefined);
    });

    it('refuses a body that is not a form with a payload field', () => {
      throwsWarden(() => parse(''), 'INVALID_REQUEST', /no payload field/);
      throwsWarden(() => parse(JSON.stringify(payloadOf(click('approve').body))), 'INVALID_REQUEST', /no payload field/);
      throwsWarden(() => parse('payload=%7Bnot%20json'), 'INVALID_REQUEST', /payload field is not JSON/);
    });

    it('refuses payloads that are not a click on approve or deny', () => {
      const tampered = (change: (payload: any) => void) => {
        const payload = payloadOf(click('approve').body);
        change(payload);
        return form(payload);
      };
      throwsWarden(() => parse(tampered((p) => (p.type = 'view_submission'))), 'INVALID_REQUEST', /type: only block_actions/);
      throwsWarden(() => parse(tampered((p) => (p.actions[0].action_id = 'escalate'))), 'INVALID_REQUEST', /actions\.0\.action_id: only the approve and deny buttons/);
      throwsWarden(() => parse(tampered((p) => (p.actions = []))), 'INVALID_REQUEST', /actions/);
      throwsWarden(() => parse(tampered((p) => (p.actions[0].value = 'a'.repeat(101)))), 'INVALID_REQUEST', /actions\.0\.value/);
      throwsWarden(() => parse(tampered((p) => (p.actions[0].value = ''))), 'INVALID_REQUEST', /actions\.0\.value/);
      throwsWarden(() => parse(tampered((p) => delete p.user)), 'INVALID_REQUEST', /user/);
      throwsWarden(() => parse(tampered((p) => (p.state.values.warden_reason.reason.value = 42))), 'INVALID_REQUEST', /state\.values\.warden_reason\.reason\.value/);
    });

    it('refuses a response_url outside the prefix', () => {
      const port = new URL(slack.responseUrlPrefix).port;
      for (const responseUrl of [
        'https://evil.example/actions/T000/1/x',
        `http://127.0.0.1:${port}/services/T000/B000/XXXX`,
        `${slack.responseUrlPrefix}../services/T000/B000/XXXX`,
        `http://127.0.0.1:${port}@evil.example/actions/x`,
        'not a url',
      ]) {
        throwsWarden(() => parse(slack.signedInteraction({ signingSecret, userId: 'U1', approvalId: 'a', decision: 'approve', responseUrl }).body), 'INVALID_REQUEST', /response_url is not under/);
      }
      // A prefix without its trailing slash still cannot be stretched onto another host.
      const loose = slack.signedInteraction({ signingSecret, userId: 'U1', approvalId: 'a', decision: 'approve', responseUrl: 'https://hooks.slack.com.evil.example/x' });
      throwsWarden(() => parseInteraction(loose.body, { responseUrlPrefix: 'https://hooks.slack.com' }), 'INVALID_REQUEST', /response_url is not under/);
    });

    it('refuses an oversized reason', () => {
      throwsWarden(() => parse(click('deny', 'r'.repeat(501)).body), 'INVALID_REQUEST', /reason has 501 characters, more than 500/);
    });
  });

  it('signs interactions that verify (round trip)', () => {
    const { body, headers } = click('deny', 'because');
    assert.equal(headers['content-type'], 'application/x-www-form-urlencoded');
    verifySlackSignature({ signingSecret, timestamp: headers['x-slack-request-timestamp'], signature: headers['x-slack-signature'], body, now: Date.now() });
    throwsWarden(
      () => verifySlackSignature({ signingSecret: 'other', timestamp: headers['x-slack-request-timestamp'], signature: headers['x-slack-signature'], body, now: Date.now() }),
      'INVALID_SIGNATURE',
      /does not match/,
    );
    const old = slack.signedInteraction({ signingSecret, userId: 'U1', approvalId: 'a', decision: 'approve', timestamp: Math.floor(Date.now() / 1000) - 600 });
    throwsWarden(
      () => verifySlackSignature({ signingSecret, timestamp: old.headers['x-slack-request-timestamp'], signature: old.headers['x-slack-signature'], body: old.body, now: Date.now() }),
      'INVALID_SIGNATURE',
      /stale/,
    );
  });

  describe('postToSlack', () => {
    it('posts the message as JSON to the webhook and to a response URL', async () => {
      const message = approvalRequestMessage(base);
      await postToSlack(slack.webhookUrl, message);
      assert.deepEqual(await slack.waitForWebhookPost(), message);

      const interaction = parse(click('approve').body);
      const update = decisionMessage(base, { status: 'approved', decisions: [{ approver: 'alice', decision: 'approve', at: '2030-01-01T00:00:00Z' }] });
      await postToSlack(interaction.responseUrl, update);
      const received = await slack.waitForResponse();
      assert.equal(received.path, new URL(interaction.responseUrl).pathname);
      assert.deepEqual(received.body, update);
    });

    it('throws on a non-2xx answer, naming the status and the origin but not the path', async () => {
      slack.failNext(500);
      const origin = new URL(slack.webhookUrl).origin;
      await assert.rejects(postToSlack(slack.webhookUrl, { text: 'x' }), (error: Error) => {
        assert.match(error.message, /HTTP 500/);
        assert.ok(error.message.includes(origin), error.message);
        assert.ok(!error.message.includes('/services/'), error.message);
        assert.ok(!error.message.includes('XXXX'), error.message);
        return true;
      });
      await assert.rejects(postToSlack(`${origin}/nowhere/secret-path`, { text: 'x' }), (error: Error) => /HTTP 404/.test(error.message) && !error.message.includes('secret-path'));
    });

    it('names only the origin when nothing answers', async () => {
      const closed = await startFakeSlack();
      await closed.close();
      await assert.rejects(postToSlack(closed.webhookUrl, { text: 'x' }), (error: Error) => {
        assert.match(error.message, /^posting to Slack at http:\/\/127\.0\.0\.1:\d+ failed: ECONNREFUSED$/);
        return true;
      });
    });
  });
});
