/**
 * The slack provider against an emulator of the Slack Web API (test/emulators/slack.ts): one Block Kit
 * message per rollback, edited in place as its state changes with each change in its thread, nothing
 * sent twice, Block Kit limits kept, and every `ok: false` error named with what to do.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { slack } from '../src/providers/notify/slack.ts';
import type { Notification, NotifyClient } from '../src/providers/types.ts';
import { SlackEmulator } from './emulators/slack.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'xoxb-1234-5678-abcdefabcdef';
const CHANNEL = 'C0INCIDENTS';

const waiting: Notification = {
  system: 'healthcare-clinic-backend',
  title: 'Phase 3 rollback: dual-lane routing',
  text: 'Error rate 12% > 10%: traffic moved to stable; waiting for approval to restart.',
  severity: 'critical',
  rollback: {
    workflowId: 'phaseRollback-dual-lane-42',
    workflowType: 'phaseRollback',
    state: 'waiting-approval',
    uiUrl: 'http://temporal.internal:8233/namespaces/default/workflows/phaseRollback-dual-lane-42',
    approvers: ['alice', 'platform-oncall'],
    gate: 'restart',
  },
};
const completed: Notification = {
  ...waiting,
  text: 'Approved by alice; restarted; error rate back to 0.4%.',
  severity: 'info',
  rollback: { ...waiting.rollback!, state: 'completed', approvers: undefined, gate: undefined },
};

describe('slack provider against an emulator of the documented API', () => {
  let emulator: SlackEmulator;
  const client = (settings: Record<string, unknown> = {}, env: Record<string, string> = { SLACK_BOT_TOKEN: TOKEN }): NotifyClient =>
    slack.create(slack.settingsSchema.parse({ channel: CHANNEL, tokenEnv: 'SLACK_BOT_TOKEN', baseUrl: `${emulator.url}/api`, requestTimeoutMs: 5000, ...settings }), { env, logger: quietLogger }).notify;
  const channel = () => emulator.channels.get(CHANNEL)!;

  before(async () => {
    emulator = await new SlackEmulator(TOKEN, [
      { id: CHANNEL, name: 'incidents' },
      { id: 'C0OUTSIDER1', name: 'engineering', member: false },
    ]).start();
  });
  after(() => emulator.stop());
  beforeEach(() => {
    emulator.requests.length = 0;
    for (const c of emulator.channels.values()) {
      c.messages = [];
      c.threads.clear();
    }
  });

  test('the first notification about a rollback posts the Block Kit message: header, text, state fields, approvers and gate, Temporal UI button', async () => {
    await client().send(waiting);
    const [post] = emulator.methodCalls('chat.postMessage');
    assert.equal(post!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(post!.headers['content-type'], 'application/json; charset=utf-8');
    const body = post!.body as { channel: string; text: string; blocks: any[]; thread_ts?: string };
    assert.equal(body.channel, CHANNEL);
    assert.equal(body.thread_ts, undefined);
    assert.equal(body.text, 'healthcare-clinic-backend: Phase 3 rollback: dual-lane routing [waiting-approval]: Error rate 12% &gt; 10%: traffic moved to stable; waiting for approval to restart.');
    assert.deepEqual(body.blocks, [
      { type: 'header', text: { type: 'plain_text', text: 'healthcare-clinic-backend: Phase 3 rollback: dual-lane routing', emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: ':rotating_light: Error rate 12% &gt; 10%: traffic moved to stable; waiting for approval to restart.' } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*State*\nwaiting-approval' },
          { type: 'mrkdwn', text: '*Workflow type*\nphaseRollback' },
          { type: 'mrkdwn', text: '*Workflow ID*\n`phaseRollback-dual-lane-42`' },
          { type: 'mrkdwn', text: '*Severity*\ncritical' },
        ],
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: ':raised_hand: Waiting at gate *restart*; may approve: alice, platform-oncall' }] },
      {
        type: 'actions',
        elements: [{ type: 'button', action_id: 'open_temporal_ui', text: { type: 'plain_text', text: 'Open in Temporal UI' }, url: 'http://temporal.internal:8233/namespaces/default/workflows/phaseRollback-dual-lane-42' }],
      },
    ]);
    assert.equal(channel().messages.length, 1);
  });

  test('later notifications edit that message in place and post each change into its thread: one message per rollback, showing its state now', async () => {
    const notify = client();
    await notify.send(waiting);
    const ts = channel().messages[0]!.ts;
    await notify.send({ ...waiting, text: 'Approved by alice; restarting.', severity: 'warning', rollback: { ...waiting.rollback!, state: 'running', approvers: undefined, gate: undefined } });
    await notify.send(completed);

    const updates = emulator.methodCalls('chat.update');
    assert.equal(updates.length, 2);
    assert.deepEqual(updates.map((u) => [(u.body as any).channel, (u.body as any).ts]), [[CHANNEL, ts], [CHANNEL, ts]]);
    assert.equal(channel().messages.length, 1, 'the channel shows one message for the rollback');
    const message = channel().messages[0]!;
    assert.ok(message.edited);
    assert.deepEqual((message.blocks[2] as any).fields[0], { type: 'mrkdwn', text: '*State*\ncompleted' });
    assert.ok(!message.blocks.some((b) => b.type === 'context'), 'no approvers line once it waits at no gate');
    assert.equal(message.reply_count, 2);
    assert.deepEqual(channel().threads.get(ts)!.map((r) => r.text), ['*running*: Approved by alice; restarting.', '*completed*: Approved by alice; restarted; error rate back to 0.4%.']);
    assert.deepEqual(channel().threads.get(ts)![1]!.blocks, [{ type: 'section', text: { type: 'mrkdwn', text: ':information_source: *completed*: Approved by alice; restarted; error rate back to 0.4%.' } }]);
  });

  test('the same notification again (a retried activity) sends nothing; another rollback gets its own message', async () => {
    const notify = client();
    await notify.send(waiting);
    await notify.send(completed);
    const writes = emulator.requests.length;
    await notify.send(completed);
    await notify.send(completed);
    assert.equal(emulator.requests.length, writes, 'no second update or thread reply');

    await notify.send({ ...waiting, rollback: { ...waiting.rollback!, workflowId: 'phaseRollback-grok-7' } });
    assert.equal(channel().messages.length, 2);
    // Without a rollback there is nothing to follow: a plain message with the header and text only.
    await notify.send({ system: 'sandbox', title: 'Drill finished', text: 'All checks passed.', severity: 'info' });
    assert.equal(channel().messages.length, 3);
    assert.deepEqual(channel().messages[2]!.blocks.map((b) => b.type), ['header', 'section']);
  });

  test('notifications sent together for one rollback still make one message', async () => {
    const notify = client();
    await Promise.all([notify.send(waiting), notify.send(completed)]);
    assert.equal(channel().messages.length, 1);
    assert.equal(emulator.methodCalls('chat.update').length, 1);
  });

  test('texts past the Block Kit limits are cut with an ellipsis (header 150, section 3000) and Slack accepts the message', async () => {
    const title = `Rollback ${'x'.repeat(300)}`;
    await client().send({ ...waiting, title, text: `${'<b>'.repeat(1500)}`, rollback: { ...waiting.rollback!, uiUrl: `http://temporal/${'a'.repeat(3100)}` } });
    const message = channel().messages[0]!;
    const header = (message.blocks[0] as any).text.text as string;
    assert.equal([...header].length, 150);
    assert.equal(header, `${`healthcare-clinic-backend: ${title}`.slice(0, 149)}…`);
    const section = (message.blocks[1] as any).text.text as string;
    // 3000 at most: the cut stops before an escape it would split.
    assert.ok([...section].length <= 3000 && [...section].length > 2990, `${[...section].length} characters`);
    assert.ok(section.endsWith('&gt;…'));
    assert.ok(!/&[a-z]*…$/.test(section), 'an escape is not cut in half');
    assert.ok(section.startsWith(':rotating_light: &lt;b&gt;'), 'markup from the runbook is shown, not interpreted');
    assert.ok(!message.blocks.some((b) => b.type === 'actions'), 'a UI URL past 3000 characters gets no button rather than a refused message');
  });

  test('Slack errors (HTTP 200, ok:false) are errors naming the Slack error and what to do, never the token', async () => {
    await assert.rejects(client({ channel: 'C0NOSUCHONE' }).send(waiting), {
      message: 'Slack chat.postMessage in channel C0NOSUCHONE answered ok:false, error channel_not_found. Check the channel ID C0NOSUCHONE in the runbook, and that the bot can see the channel (private channels need the bot invited).',
    });
    await assert.rejects(client({ channel: 'C0OUTSIDER1' }).send(waiting), {
      message: 'Slack chat.postMessage in channel C0OUTSIDER1 answered ok:false, error not_in_channel. Invite the bot to channel C0OUTSIDER1 (/invite @<bot name>).',
    });
    await assert.rejects(client({}, { SLACK_BOT_TOKEN: 'xoxb-revoked-000' }).send(waiting), (err: Error) => {
      assert.equal(
        err.message,
        `Slack chat.postMessage in channel ${CHANNEL} answered ok:false, error invalid_auth. The bot token in SLACK_BOT_TOKEN was refused: check it is the current xoxb- token of an app installed in this workspace.`,
      );
      assert.ok(!err.message.includes('xoxb-revoked-000') && !err.message.includes(TOKEN));
      return true;
    });
    await assert.rejects(client({}, {}).send(waiting), { message: 'environment variable SLACK_BOT_TOKEN is not set (the runbook references it)' });
    assert.equal(channel().messages.length, 0);
  });

  test('a message deleted from the channel is posted again rather than failing the notification', async () => {
    const notify = client();
    await notify.send(waiting);
    emulator.deleteMessage(CHANNEL, channel().messages[0]!.ts);
    await notify.send(completed);
    assert.equal(channel().messages.length, 1);
    assert.deepEqual((channel().messages[0]!.blocks[2] as any).fields[0], { type: 'mrkdwn', text: '*State*\ncompleted' });
    // And the rollback follows the new message from then on.
    await notify.send({ ...completed, text: 'Post-rollback checks passed.' });
    assert.equal(channel().messages.length, 1);
    assert.equal(channel().messages[0]!.reply_count, 1);
  });

  test('a 429 with Retry-After is asked again after the wait', async () => {
    emulator.rateLimit(1, { method: 'chat.postMessage' });
    await client().send(waiting);
    const posts = emulator.methodCalls('chat.postMessage');
    assert.equal(posts.length, 2);
    assert.ok(posts[1]!.at - posts[0]!.at >= 1000, `waited ${posts[1]!.at - posts[0]!.at} ms`);
    assert.equal(channel().messages.length, 1);
  });

  test('still rate limited, it throws a clear error rather than hanging; a 5xx repeats the edit but never a post', async () => {
    emulator.rateLimit(0, { times: 5 });
    await assert.rejects(client().send(waiting), {
      message: 'Slack POST /chat.postMessage answered 429 (still rate limited after 5 attempts): ratelimited. Slack kept rate limiting this app (about 1 message per second per channel): the message was not sent.',
    });
    emulator.rateLimit(3600);
    const started = Date.now();
    await assert.rejects(client().send(waiting), { message: /^Slack POST \/chat\.postMessage answered 429 \(Retry-After 3600000 ms is longer than the 30000 ms this waits\)/ });
    assert.ok(Date.now() - started < 2000);
    assert.equal(channel().messages.length, 0);

    emulator.failNext({ status: 503, body: 'upstream connect error' }, { path: /chat\.postMessage$/ });
    await assert.rejects(client().send(waiting), {
      message: 'Slack POST /chat.postMessage answered 503: upstream connect error. Slack is failing: the message was not sent; see https://slack-status.com.',
    });
    assert.equal(emulator.methodCalls('chat.postMessage').length, 7, 'the failed post was not sent again');

    const notify = client();
    await notify.send(waiting);
    emulator.failNext({ status: 502, body: 'bad gateway' }, { path: /chat\.update$/ });
    await notify.send(completed);
    assert.equal(emulator.methodCalls('chat.update').length, 2, 'the edit sets the same contents, so it was asked again');
    assert.equal(channel().messages.length, 1);
    assert.equal(channel().messages[0]!.reply_count, 1);
  });

  test('bad settings are refused naming the field', () => {
    const fields = (settings: Record<string, unknown>) => {
      const result = slack.settingsSchema.safeParse(settings);
      assert.equal(result.success, false);
      return result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.deepEqual(fields({ channel: '#incidents', tokenEnv: 'SLACK_BOT_TOKEN' }), [
      'channel: must be a Slack channel ID like C0123ABCDEF (channel details > About), not a #name: chat.update takes IDs only',
    ]);
    assert.deepEqual(fields({ channel: CHANNEL, tokenEnv: TOKEN }), ['tokenEnv: must name an environment variable (like SLACK_WEBHOOK_URL), not hold its value']);
    assert.deepEqual(fields({ channel: CHANNEL, tokenEnv: 'SLACK_BOT_TOKEN', baseUrl: 'slack' }).map((m) => m.split(':')[0]), ['baseUrl']);
    const parsed = slack.settingsSchema.parse(slack.example);
    assert.equal(parsed.baseUrl, 'https://slack.com/api');
  });
});
