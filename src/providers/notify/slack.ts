/**
 * Rollback notifications to a Slack channel through the Web API with a bot token (seed 000 tells the
 * engineering and incident channels during a rollback): chat.postMessage and chat.update with JSON
 * bodies, Block Kit `blocks` and a plain `text` fallback for notifications and screen readers.
 * References: https://api.slack.com/methods/chat.postMessage, https://api.slack.com/methods/chat.update,
 * https://api.slack.com/reference/block-kit/blocks, https://api.slack.com/docs/rate-limits.
 *
 * One message per rollback, showing its current state: the first notification about a rollback is
 * posted; each later one edits that message in place (chat.update of the remembered `ts`) and posts
 * the change as a reply in its thread, so the channel stays one line per rollback while the thread
 * keeps the history and notifies the people following it. The `ts` is kept per workflow ID in this
 * client (one per worker), so after a worker restart the next notification starts a new message.
 * A notification equal to the last one sent for that rollback (a retried activity) sends nothing.
 *
 * Slack answers most failures with HTTP 200 and `{ok: false, error}`; those become errors naming the
 * Slack error and what to do. Rate limits are HTTP 429 with Retry-After, waited out by the shared
 * client. The channel must be an ID (C0123ABCD): chat.update accepts no channel names.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import { bearerToken, jsonApi, withAdvice, type RequestOptions } from '../http-api.ts';
import type { Notification, NotifyClient, ProviderContext, ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({
  channel: z
    .string()
    .regex(/^[CGD][A-Z0-9]{6,}$/, 'must be a Slack channel ID like C0123ABCDEF (channel details > About), not a #name: chat.update takes IDs only')
    .describe('the Slack channel ID to post in (the bot must be a member)'),
  tokenEnv: envVarName.describe('environment variable holding the bot token (xoxb-..., scope chat:write)'),
  baseUrl: z.url().default('https://slack.com/api').describe('the Slack Web API base URL'),
  requestTimeoutMs: z.int().positive().default(10_000).describe('how long one API request may take'),
});
type Settings = z.infer<typeof settingsSchema>;

/** Block Kit limits this message relies on (https://api.slack.com/reference/block-kit/blocks). */
export const LIMITS = { header: 150, section: 3000, field: 2000, context: 3000, buttonUrl: 3000 } as const;

/** `text` cut to `max` characters, the cut marked with an ellipsis (never inside an `&amp;`-style escape). */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('').replace(/&[a-z]*$/, '')}…`;
}

/** Slack reads `<`, `>` and `&` in mrkdwn as link and mention markup; text from runbooks is shown as written. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const mrkdwn = (text: string, max: number) => ({ type: 'mrkdwn', text: truncate(text, max) });

const severityIcon = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

type Block = Record<string, unknown>;

/** The message for a notification: `text` (fallback) and its Block Kit `blocks`. */
export function renderMessage(notification: Notification): { text: string; blocks: Block[] } {
  const { rollback } = notification;
  const header = truncate(`${notification.system}: ${notification.title}`, LIMITS.header);
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: header, emoji: true } },
    { type: 'section', text: mrkdwn(`${severityIcon[notification.severity]} ${escapeMrkdwn(notification.text)}`, LIMITS.section) },
  ];
  if (rollback) {
    blocks.push({
      type: 'section',
      fields: [
        mrkdwn(`*State*\n${escapeMrkdwn(rollback.state)}`, LIMITS.field),
        mrkdwn(`*Workflow type*\n${escapeMrkdwn(rollback.workflowType)}`, LIMITS.field),
        mrkdwn(`*Workflow ID*\n\`${escapeMrkdwn(rollback.workflowId)}\``, LIMITS.field),
        mrkdwn(`*Severity*\n${notification.severity}`, LIMITS.field),
      ],
    });
    const approvers = rollback.approvers?.length ? rollback.approvers.map(escapeMrkdwn).join(', ') : null;
    if (rollback.gate || approvers) {
      const line = [rollback.gate ? `Waiting at gate *${escapeMrkdwn(rollback.gate)}*` : null, approvers ? `may approve: ${approvers}` : null].filter(Boolean).join('; ');
      blocks.push({ type: 'context', elements: [mrkdwn(`:raised_hand: ${line}`, LIMITS.context)] });
    }
    // A longer URL would make Slack refuse the whole message; the workflow ID above still finds it.
    if (rollback.uiUrl && rollback.uiUrl.length <= LIMITS.buttonUrl) {
      blocks.push({
        type: 'actions',
        elements: [{ type: 'button', action_id: 'open_temporal_ui', text: { type: 'plain_text', text: 'Open in Temporal UI' }, url: rollback.uiUrl }],
      });
    }
  }
  const state = rollback ? ` [${rollback.state}]` : '';
  return { text: truncate(escapeMrkdwn(`${header}${state}: ${notification.text}`), LIMITS.section), blocks };
}

/** The reply in a rollback's thread when its message changes: the new state and what happened. */
export function renderThreadReply(notification: Notification): { text: string; blocks: Block[] } {
  const state = notification.rollback?.state ? `*${escapeMrkdwn(notification.rollback.state)}*: ` : '';
  const text = `${state}${escapeMrkdwn(notification.text)}`;
  return { text: truncate(text, LIMITS.section), blocks: [{ type: 'section', text: mrkdwn(`${severityIcon[notification.severity]} ${text}`, LIMITS.section) }] };
}

/** What to do about a Slack error, for the person reading the log at 3 a.m. */
function advice(error: string, settings: Settings, needed?: string): string | undefined {
  switch (error) {
    case 'channel_not_found':
      return `Check the channel ID ${settings.channel} in the runbook, and that the bot can see the channel (private channels need the bot invited).`;
    case 'not_in_channel':
      return `Invite the bot to channel ${settings.channel} (/invite @<bot name>).`;
    case 'is_archived':
      return `Channel ${settings.channel} is archived: unarchive it or name another channel in the runbook.`;
    case 'invalid_auth':
    case 'not_authed':
    case 'token_revoked':
    case 'token_expired':
    case 'account_inactive':
      return `The bot token in ${settings.tokenEnv} was refused: check it is the current xoxb- token of an app installed in this workspace.`;
    case 'missing_scope':
      return `The bot token in ${settings.tokenEnv} lacks the scope ${needed ?? 'chat:write'}: add it to the app and reinstall.`;
    case 'ratelimited':
      return 'Slack rate limited this app: the message was not sent.';
    case 'invalid_blocks':
    case 'invalid_blocks_format':
      return 'Slack refused the message layout: this is a bug in the slack provider, report it.';
    default:
      return undefined;
  }
}

/** What to do about an HTTP failure (Slack answers most errors with a 200 and `ok: false`). */
function httpAdvice(status: number, settings: Settings): string | undefined {
  if (status === 0) return `Check the network path to ${settings.baseUrl}.`;
  if (status === 429) return 'Slack kept rate limiting this app (about 1 message per second per channel): the message was not sent.';
  if (status >= 500) return 'Slack is failing: the message was not sent; see https://slack-status.com.';
  return undefined;
}

const answerSchema = z.looseObject({
  ok: z.boolean(),
  error: z.string().optional(),
  needed: z.string().optional(),
  channel: z.string().optional(),
  ts: z.string().optional(),
  response_metadata: z.looseObject({ messages: z.array(z.string()).optional() }).optional(),
});
type SlackAnswer = z.infer<typeof answerSchema>;

/** A Slack method answered `ok: false`. */
export class SlackError extends Error {
  constructor(
    message: string,
    readonly error: string,
  ) {
    super(message);
  }
}

/** Rollbacks whose message this client remembers. */
const MAX_THREADS = 1000;

interface Thread {
  channel: string;
  ts: string;
  /** The last message sent (blocks and text) as JSON: an equal one sends nothing. */
  last: string;
}

function create(settings: Settings, context: ProviderContext): { notify: NotifyClient } {
  const threads = new Map<string, Thread>();
  // One notification at a time per rollback, so two sent together cannot both start a message.
  const queues = new Map<string, Promise<void>>();

  // The token is read at each request, so a rotated token is picked up and `create` does no I/O.
  const api = jsonApi({
    baseUrl: settings.baseUrl,
    what: 'Slack',
    headers: bearerToken(context, settings.tokenEnv),
    timeoutMs: settings.requestTimeoutMs,
    advise: (status) => httpAdvice(status, settings),
  });
  const call = async (method: string, body: Record<string, unknown>, options: Pick<RequestOptions, 'repeatable'> = {}): Promise<SlackAnswer> => {
    // Slack wants the charset with JSON bodies (it warns `missing_charset` otherwise).
    const { body: answer } = await api('POST', `/${method}`, { body, schema: answerSchema, headers: { 'content-type': 'application/json; charset=utf-8' }, ...options });
    if (answer.ok) return answer;
    const error = answer.error ?? 'no_ok_field';
    const details = answer.response_metadata?.messages?.length ? ` ${answer.response_metadata.messages.join('; ')}` : '';
    throw new SlackError(withAdvice(`Slack ${method} in channel ${settings.channel} answered ok:false, error ${error}${details}`, advice(error, settings, answer.needed)), error);
  };

  const post = async (message: { text: string; blocks: Block[] }, threadTs?: string): Promise<SlackAnswer> =>
    // Not repeatable: a post whose answer was lost may have been made, and a second would show twice.
    call('chat.postMessage', { channel: settings.channel, ...message, ...(threadTs ? { thread_ts: threadTs } : {}), unfurl_links: false, unfurl_media: false });

  async function sendAbout(workflowId: string, notification: Notification): Promise<void> {
    const message = renderMessage(notification);
    const rendered = JSON.stringify(message);
    const thread = threads.get(workflowId);
    if (thread?.last === rendered) return;
    if (thread) {
      try {
        // Setting the message to these contents is the same however often it is done.
        await call('chat.update', { channel: thread.channel, ts: thread.ts, ...message }, { repeatable: true });
      } catch (err) {
        if (!(err instanceof SlackError && err.error === 'message_not_found')) throw err;
        // Someone deleted the message: start a new one for this rollback.
        context.logger.warn({ workflowId, ts: thread.ts }, 'the Slack message for this rollback was deleted; posting a new one');
        threads.delete(workflowId);
        return sendAbout(workflowId, notification);
      }
      await post(renderThreadReply(notification), thread.ts);
      thread.last = rendered;
      return;
    }
    const answer = await post(message);
    threads.set(workflowId, { channel: answer.channel ?? settings.channel, ts: answer.ts!, last: rendered });
    // A worker lives for many rollbacks; the oldest ones are long finished.
    if (threads.size > MAX_THREADS) threads.delete(threads.keys().next().value!);
  }

  return {
    notify: {
      async send(notification) {
        const workflowId = notification.rollback?.workflowId;
        if (!workflowId) {
          await post(renderMessage(notification));
          return;
        }
        const previous = queues.get(workflowId) ?? Promise.resolve();
        const next = previous.catch(() => undefined).then(() => sendAbout(workflowId, notification));
        queues.set(workflowId, next);
        try {
          await next;
        } finally {
          if (queues.get(workflowId) === next) queues.delete(workflowId);
        }
      },
    },
  };
}

export const slack: ProviderDefinition<'notify', Settings> = {
  id: 'slack',
  description: 'Slack Web API with a bot token: one Block Kit message per rollback (state, approvers, Temporal UI button), edited as it changes, with each change in its thread',
  capabilities: ['notify'],
  settingsSchema,
  example: { channel: 'C0123ABCDEF', tokenEnv: 'SLACK_BOT_TOKEN' },
  create,
};
