/**
 * POST /v1/slack/interactions — a reviewer clicked Approve or Deny in Slack. The request is
 * Slack's only if its v0 signature verifies within the 5-minute window, and it counts once:
 * a replayed signature is refused. Slack ignores the body of this answer, so what the
 * reviewer should read (the outcome, or why the click did nothing) goes to the response URL.
 */
import { WardenError } from '../core/errors.js';
import { apiHandler, json, rawBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';
import { parseInteraction, postToSlack, reasonRequiredMessage, verifySlackSignature } from './lib/slack.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const { slack } = runtime;
    if (!slack) throw new WardenError('INVALID_REQUEST', 'Slack is not configured on this gateway; set approvals.slack in the config');
    const body = rawBody(event);
    const signature = event.headers['x-slack-signature'];
    verifySlackSignature({ signingSecret: slack.signingSecret, timestamp: event.headers['x-slack-request-timestamp'], signature, body, now: runtime.now() });
    if (!(await runtime.callbackReplays.claim(signature!))) throw new WardenError('INVALID_SIGNATURE', 'this Slack request was already received once; a replay is refused');
    const click = parseInteraction(body, { responseUrlPrefix: slack.responseUrlPrefix });
    const tell = (text: string) => postToSlack(click.responseUrl, { response_type: 'ephemeral', replace_original: false, text }).catch(() => undefined);

    const identity = slack.users[click.slackUserId];
    if (!identity) {
      await tell(`Your Slack user ${click.slackUserId} is not linked to a Warden identity, so your click was not counted. Ask a Warden administrator to add it under approvals.slack.users.`);
      return json(200, { ok: false, error: 'UNKNOWN_SLACK_USER' });
    }
    if (click.decision === 'deny' && !click.reason) {
      await postToSlack(click.responseUrl, reasonRequiredMessage()).catch(() => undefined);
      return json(200, { ok: false, error: 'REASON_REQUIRED' });
    }
    try {
      const record = await runtime.approvals.decide(click.approvalId, { ...identity, act: [] }, click.decision, click.reason ?? 'approved in Slack', 'slack', click.responseUrl);
      return json(200, { ok: true, status: record.status });
    } catch (error) {
      if (!(error instanceof WardenError) || error.code === 'STORE_UNAVAILABLE') throw error;
      await tell(`Warden did not count your click: ${error.message}`);
      return json(200, { ok: false, error: error.code });
    }
  });
