/**
 * An emulator of the Slack Web API methods the slack provider calls, with their documented shapes:
 *   POST /api/chat.postMessage  {channel, text, blocks, thread_ts?} -> {ok, channel, ts, message}
 *   POST /api/chat.update       {channel, ts, text, blocks}         -> {ok, channel, ts, text, message}
 * Messages are kept per channel, replies per thread (the parent counting reply_count and
 * latest_reply). As Slack does, failures are HTTP 200 with `{ok: false, error}`: not_authed /
 * invalid_auth (Bearer token), channel_not_found, not_in_channel, is_archived, no_text,
 * message_not_found, invalid_blocks (with response_metadata.messages) for blocks past the Block Kit
 * limits; rate limits are HTTP 429 with Retry-After and `{ok: false, error: "ratelimited"}`.
 * References: https://api.slack.com/methods/chat.postMessage, https://api.slack.com/methods/chat.update,
 * https://api.slack.com/reference/block-kit/blocks, https://api.slack.com/docs/rate-limits.
 */
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

export interface SlackMessage {
  type: 'message';
  ts: string;
  text: string;
  blocks: Record<string, unknown>[];
  bot_id: string;
  thread_ts?: string;
  reply_count?: number;
  latest_reply?: string;
  edited?: { user: string; ts: string };
}

export interface EmulatedChannel {
  id: string;
  name: string;
  /** Whether the bot is a member (not_in_channel otherwise). */
  member: boolean;
  archived: boolean;
  /** Top-level messages, oldest first. */
  messages: SlackMessage[];
  /** Replies by their parent's ts, oldest first. */
  threads: Map<string, SlackMessage[]>;
}

const BOT = 'B0ROLLBACK1';
const fail = (error: string, extra: Record<string, unknown> = {}): Reply => ({ status: 200, body: { ok: false, error, ...extra } });

type Json = Record<string, unknown>;

/** Block Kit limits (https://api.slack.com/reference/block-kit/blocks), as `[ERROR] ... [json-pointer:...]` lines. */
function blockErrors(blocks: unknown): string[] {
  if (!Array.isArray(blocks)) return ['[ERROR] must be an array [json-pointer:/blocks]'];
  const errors: string[] = [];
  const max = (text: unknown, limit: number, pointer: string) => {
    if (typeof text !== 'string' || text.length === 0) errors.push(`[ERROR] must be a non-empty string [json-pointer:${pointer}]`);
    else if ([...text].length > limit) errors.push(`[ERROR] must be less than ${limit + 1} characters [json-pointer:${pointer}]`);
  };
  if (blocks.length > 50) errors.push('[ERROR] no more than 50 items allowed [json-pointer:/blocks]');
  blocks.forEach((block: Json, i) => {
    const at = `/blocks/${i}`;
    const text = block.text as Json | undefined;
    switch (block.type) {
      case 'header':
        if (text?.type !== 'plain_text') errors.push(`[ERROR] must be plain_text [json-pointer:${at}/text/type]`);
        max(text?.text, 150, `${at}/text/text`);
        break;
      case 'section': {
        const fields = block.fields as Json[] | undefined;
        if (!text && !fields) errors.push(`[ERROR] must provide text or fields [json-pointer:${at}]`);
        if (text) max(text.text, 3000, `${at}/text/text`);
        if (fields && fields.length > 10) errors.push(`[ERROR] no more than 10 items allowed [json-pointer:${at}/fields]`);
        fields?.forEach((f, j) => max(f.text, 2000, `${at}/fields/${j}/text`));
        break;
      }
      case 'context': {
        const elements = (block.elements ?? []) as Json[];
        if (elements.length === 0 || elements.length > 10) errors.push(`[ERROR] must have 1 to 10 items [json-pointer:${at}/elements]`);
        elements.forEach((e, j) => max(e.text, 3000, `${at}/elements/${j}/text`));
        break;
      }
      case 'actions': {
        const elements = (block.elements ?? []) as Json[];
        if (elements.length === 0 || elements.length > 25) errors.push(`[ERROR] must have 1 to 25 items [json-pointer:${at}/elements]`);
        elements.forEach((e, j) => {
          if (e.type !== 'button') return;
          max((e.text as Json | undefined)?.text, 75, `${at}/elements/${j}/text/text`);
          if (e.url !== undefined) max(e.url, 3000, `${at}/elements/${j}/url`);
        });
        break;
      }
      case 'divider':
        break;
      default:
        errors.push(`[ERROR] unsupported type: ${String(block.type)} [json-pointer:${at}/type]`);
    }
  });
  return errors;
}

export class SlackEmulator extends HttpEmulator {
  readonly channels = new Map<string, EmulatedChannel>();
  private seq = 0;

  constructor(token: string, channels: { id: string; name: string; member?: boolean; archived?: boolean }[]) {
    super('Slack', token, (r) => fail(r.headers.authorization ? 'invalid_auth' : 'not_authed'));
    for (const c of channels) this.channels.set(c.id, { id: c.id, name: c.name, member: c.member ?? true, archived: c.archived ?? false, messages: [], threads: new Map() });
    this.route('POST', '/api/chat.postMessage', (r) => this.postMessage(r)).route('POST', '/api/chat.update', (r) => this.update(r));
  }

  /** The next `times` calls of `method` (default any) get HTTP 429 with Retry-After, as Slack's rate limits answer. */
  rateLimit(retryAfterSeconds: number, options: { method?: 'chat.postMessage' | 'chat.update'; times?: number } = {}): void {
    this.failNext(
      { status: 429, headers: { 'retry-after': String(retryAfterSeconds) }, body: { ok: false, error: 'ratelimited' } },
      { path: options.method ? new RegExp(`/${options.method.replace('.', '\\.')}$`) : undefined, times: options.times },
    );
  }

  /** Requests to a Web API method, e.g. `methodCalls('chat.update')`. */
  methodCalls(method: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === `/api/${method}`);
  }

  /** Deletes a message, as a person in the channel could. */
  deleteMessage(channel: string, ts: string): void {
    const c = this.channels.get(channel)!;
    c.messages = c.messages.filter((m) => m.ts !== ts);
    c.threads.delete(ts);
  }

  private nextTs(): string {
    // Slack's ts: epoch seconds and a 6-digit sequence, unique per channel.
    return `${1738152000 + Math.floor(this.seq / 1000)}.${String(++this.seq).padStart(6, '0')}`;
  }

  private channelFor(body: Json, writing: boolean): EmulatedChannel | Reply {
    const channel = this.channels.get(String(body.channel ?? ''));
    if (!channel) return fail('channel_not_found');
    if (writing && channel.archived) return fail('is_archived');
    if (writing && !channel.member) return fail('not_in_channel');
    return channel;
  }

  private content(body: Json): { text: string; blocks: Json[] } | Reply {
    if (body.blocks === undefined && (typeof body.text !== 'string' || body.text === '')) return fail('no_text');
    if (body.blocks !== undefined) {
      const errors = blockErrors(body.blocks);
      if (errors.length) return fail('invalid_blocks', { response_metadata: { messages: errors } });
    }
    return { text: typeof body.text === 'string' ? body.text : '', blocks: (body.blocks as Json[] | undefined) ?? [] };
  }

  private postMessage(request: RecordedRequest): Reply {
    const body = (request.body ?? {}) as Json;
    const channel = this.channelFor(body, true);
    if ('status' in channel) return channel;
    const content = this.content(body);
    if ('status' in content) return content;
    const message: SlackMessage = { type: 'message', ts: this.nextTs(), ...content, bot_id: BOT };
    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    const parent = threadTs ? channel.messages.find((m) => m.ts === threadTs) : undefined;
    if (threadTs && parent) {
      message.thread_ts = threadTs;
      parent.thread_ts = threadTs;
      parent.reply_count = (parent.reply_count ?? 0) + 1;
      parent.latest_reply = message.ts;
      channel.threads.set(threadTs, [...(channel.threads.get(threadTs) ?? []), message]);
    } else {
      channel.messages.push(message);
    }
    return { status: 200, body: { ok: true, channel: channel.id, ts: message.ts, message } };
  }

  private update(request: RecordedRequest): Reply {
    const body = (request.body ?? {}) as Json;
    const channel = this.channelFor(body, true);
    if ('status' in channel) return channel;
    const message = channel.messages.find((m) => m.ts === body.ts);
    if (!message) return fail('message_not_found');
    const content = this.content(body);
    if ('status' in content) return content;
    message.text = content.text;
    message.blocks = content.blocks;
    message.edited = { user: BOT, ts: this.nextTs() };
    return { status: 200, body: { ok: true, channel: channel.id, ts: message.ts, text: message.text, message } };
  }
}
