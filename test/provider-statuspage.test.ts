/**
 * The statuspage provider against an emulator of the Statuspage REST API v1 (test/emulators/statuspage.ts):
 * an incident opened once per rollback (found again by its metadata), updated, resolved with its
 * components set back to operational, nothing sent twice, and each failure named plainly.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { METADATA_KEY, statuspage } from '../src/providers/notify/statuspage.ts';
import type { StatusIncident, StatusPageClient } from '../src/providers/types.ts';
import { StatuspageEmulator } from './emulators/statuspage.ts';
import { quietLogger } from './harness.ts';

const PAGE = 'kctbh9vrtdwd';
const KEY = 'sp-key-0f1e2d3c4b5a';
const API = 'ftgks51sfs2d';
const CHAT = 'bb5w0kc1234x';

const incident: StatusIncident = {
  system: 'healthcare-clinic-backend',
  rollbackId: 'phaseRollback-langgraph-42',
  title: 'Elevated errors on chat',
  status: 'investigating',
  text: 'We are rolling back the LangGraph migration; chat may answer slowly.',
};

describe('statuspage provider against an emulator of the documented API', () => {
  let emulator: StatuspageEmulator;
  const client = (settings: Record<string, unknown> = {}, env: Record<string, string> = { STATUSPAGE_API_KEY: KEY }): StatusPageClient =>
    statuspage.create(
      statuspage.settingsSchema.parse({ pageId: PAGE, baseUrl: `${emulator.url}/v1`, apiKeyEnv: 'STATUSPAGE_API_KEY', components: { [API]: 'partial_outage', [CHAT]: 'major_outage' }, requestTimeoutMs: 5000, ...settings }),
      { env, logger: quietLogger },
    ).statusPage;

  before(async () => {
    emulator = await new StatuspageEmulator(PAGE, KEY, { [API]: 'API', [CHAT]: 'Chat', other00000: 'Dashboard' }).start();
  });
  after(() => emulator.stop());
  beforeEach(() => {
    emulator.incidents.clear();
    emulator.requests.length = 0;
    for (const c of emulator.components.values()) c.status = 'operational';
  });

  test('open posts the documented incident: name, status, body, impact, components with their statuses, and the rollback in metadata', async () => {
    const { id } = await client().open(incident);
    const [get, post] = emulator.requests;
    assert.equal(get!.method, 'GET');
    assert.equal(get!.path, `/v1/pages/${PAGE}/incidents/unresolved`);
    assert.equal(get!.headers.authorization, `OAuth ${KEY}`);
    assert.deepEqual(post!.body, {
      incident: {
        name: 'Elevated errors on chat',
        status: 'investigating',
        body: incident.text,
        impact_override: 'major',
        component_ids: [API, CHAT],
        components: { [API]: 'partial_outage', [CHAT]: 'major_outage' },
        metadata: { [METADATA_KEY]: { rollback_id: 'phaseRollback-langgraph-42', system: 'healthcare-clinic-backend' } },
        deliver_notifications: true,
      },
    });
    const opened = emulator.incidents.get(id)!;
    assert.equal(opened.status, 'investigating');
    assert.equal(opened.impact, 'major');
    assert.equal(opened.incident_updates[0]!.body, incident.text);
    assert.equal(emulator.components.get(API)!.status, 'partial_outage');
    assert.equal(emulator.components.get(CHAT)!.status, 'major_outage');
    assert.equal(emulator.components.get('other00000')!.status, 'operational');
  });

  test('a retried open finds the unresolved incident by its metadata and opens no second one; another rollback gets its own', async () => {
    const first = await client().open(incident);
    // A new client, as after a worker restart: nothing is remembered in memory.
    const again = await client().open({ ...incident, text: 'retried' });
    assert.deepEqual(again, first);
    assert.equal(emulator.calls('POST').length, 1);
    assert.equal(emulator.incidents.size, 1);
    const other = await client().open({ ...incident, rollbackId: 'phaseRollback-grok-7' });
    assert.notEqual(other.id, first.id);
    assert.equal(emulator.calls('POST').length, 2);
  });

  test('the lookup pages through unresolved incidents, so an open incident beyond the first 100 is still found', async () => {
    const { id } = await client().open(incident);
    for (let n = 0; n < 120; n++) await client({ components: {} }).open({ ...incident, rollbackId: `other-${n}` });
    emulator.requests.length = 0;
    assert.deepEqual(await client().open(incident), { id });
    assert.deepEqual(emulator.calls('GET').map((r) => r.query.get('page')), ['1', '2']);
    assert.equal(emulator.writes().length, 0);
  });

  test('update adds an incident update with status and text; the same update again sends nothing', async () => {
    const sp = client();
    const { id } = await sp.open(incident);
    await sp.update(id, { status: 'identified', text: 'Traffic moved back to the stable release.' });
    const patch = emulator.calls('PATCH').at(-1)!;
    assert.equal(patch.path, `/v1/pages/${PAGE}/incidents/${id}`);
    assert.deepEqual(patch.body, { incident: { status: 'identified', body: 'Traffic moved back to the stable release.' } });
    const writes = emulator.writes().length;
    await sp.update(id, { status: 'identified', text: 'Traffic moved back to the stable release.' });
    await client().update(id, { status: 'identified', text: 'Traffic moved back to the stable release.' });
    assert.equal(emulator.writes().length, writes, 'no second PATCH for the same update');
    const current = emulator.incidents.get(id)!;
    assert.deepEqual(current.incident_updates.map((u) => [u.status, u.body]), [
      ['identified', 'Traffic moved back to the stable release.'],
      ['investigating', incident.text],
    ]);
    // Same status, new text: that is a new update.
    await sp.update(id, { status: 'identified', text: 'Still watching error rates.' });
    assert.equal(emulator.writes().length, writes + 1);
  });

  test('resolving puts every component back to operational, as read before the incident, and closes it', async () => {
    const before = [...emulator.components.values()].map((c) => [c.id, c.status]);
    const sp = client();
    const { id } = await sp.open(incident);
    await sp.update(id, { status: 'resolved', text: 'Rolled back; error rates are normal.' });
    assert.deepEqual(emulator.calls('PATCH').at(-1)!.body, {
      incident: { status: 'resolved', body: 'Rolled back; error rates are normal.', components: { [API]: 'operational', [CHAT]: 'operational' }, component_ids: [API, CHAT] },
    });
    assert.deepEqual([...emulator.components.values()].map((c) => [c.id, c.status]), before);
    const resolved = emulator.incidents.get(id)!;
    assert.equal(resolved.status, 'resolved');
    assert.ok(resolved.resolved_at);
    // Repeating the resolve changes nothing more.
    const writes = emulator.writes().length;
    await sp.update(id, { status: 'resolved', text: 'Rolled back; error rates are normal.' });
    assert.equal(emulator.writes().length, writes);
  });

  test('a refused API key is a 401 naming the variable, never the key', async () => {
    await assert.rejects(client({}, { STATUSPAGE_API_KEY: 'wrong-key-123' }).open(incident), (err: Error) => {
      assert.equal(
        err.message,
        `Statuspage GET /pages/${PAGE}/incidents/unresolved?page=1&per_page=100 answered 401: Could not authenticate. The API key in STATUSPAGE_API_KEY was refused: check it is a current Statuspage API key of a user with access to page ${PAGE}.`,
      );
      assert.ok(!err.message.includes('wrong-key-123'));
      return true;
    });
    await assert.rejects(client({}, {}).open(incident), { message: 'environment variable STATUSPAGE_API_KEY is not set (the runbook references it)' });
    assert.equal(emulator.writes().length, 0);
  });

  test('an unknown page or incident is a 404 that says to check pageId', async () => {
    await assert.rejects(client({ pageId: 'nosuchpage0' }).open(incident), {
      message:
        'Statuspage GET /pages/nosuchpage0/incidents/unresolved?page=1&per_page=100 answered 404: The requested resource could not be found. Page nosuchpage0 or the incident does not exist for this API key: check pageId in the runbook.',
    });
    await assert.rejects(client().update('p31zjtct2jer', { status: 'resolved', text: 'x' }), {
      message: `Statuspage GET /pages/${PAGE}/incidents/p31zjtct2jer answered 404: The requested resource could not be found. Page ${PAGE} or the incident does not exist for this API key: check pageId in the runbook.`,
    });
  });

  test('an unknown component id is refused with 422 and opens nothing', async () => {
    await assert.rejects(client({ components: { zzzz9999: 'major_outage' } }).open(incident), {
      message: `Statuspage POST /pages/${PAGE}/incidents answered 422: Component zzzz9999 not found. Statuspage refused the incident: check the component ids and statuses in the runbook.`,
    });
    assert.equal(emulator.incidents.size, 0);
  });

  test('a 429 with Retry-After is asked again after the wait', async () => {
    emulator.rateLimit(1, { method: 'POST' });
    const { id } = await client().open(incident);
    const posts = emulator.calls('POST');
    assert.equal(posts.length, 2);
    assert.ok(posts[1]!.at - posts[0]!.at >= 1000, `waited ${posts[1]!.at - posts[0]!.at} ms`);
    assert.equal(emulator.incidents.size, 1);
    assert.ok(emulator.incidents.has(id));
  });

  test('still rate limited, or told to wait too long, it throws a clear error rather than hanging', async () => {
    emulator.rateLimit(0, { times: 5 });
    await assert.rejects(client().open(incident), {
      message: `Statuspage GET /pages/${PAGE}/incidents/unresolved?page=1&per_page=100 answered 429 (still rate limited after 5 attempts): Rate limit exceeded. Rate limited (Statuspage allows 1 request per second per API key): wait and retry, or use a key no other tool shares.`,
    });
    emulator.rateLimit(3600);
    const started = Date.now();
    await assert.rejects(client().open(incident), { message: /^Statuspage GET \/pages\/kctbh9vrtdwd\/incidents\/unresolved\?page=1&per_page=100 answered 429 \(Retry-After 3600000 ms is longer than the 30000 ms this waits\)/ });
    assert.ok(Date.now() - started < 2000);
    // Statuspage also documents 420 for the rate limit: waited out like a 429.
    emulator.requests.length = 0;
    emulator.rateLimit(1, { status: 420 });
    await client().open(incident);
    const [refused, asked] = emulator.calls('GET');
    assert.ok(asked!.at - refused!.at >= 1000, `asked again after the Retry-After (${asked!.at - refused!.at} ms)`);
    assert.equal(emulator.writes().length, 1, 'one incident opened, once');
    emulator.incidents.clear();
  });

  test('a 5xx on a read is asked again; on the create it is not, and the retried open still opens one incident', async () => {
    emulator.failNext({ status: 503, body: { message: 'Service Unavailable' } }, { method: 'GET' });
    const { id } = await client().open(incident);
    assert.equal(emulator.calls('GET').length, 2);
    assert.ok(emulator.incidents.has(id));

    emulator.incidents.clear();
    emulator.requests.length = 0;
    emulator.failNext({ status: 500, body: { message: 'Internal Server Error' } }, { method: 'POST' });
    await assert.rejects(client().open(incident), {
      message: `Statuspage POST /pages/${PAGE}/incidents answered 500: Internal Server Error. Statuspage is failing; its own status is at https://metastatuspage.com.`,
    });
    assert.equal(emulator.calls('POST').length, 1, 'a create is not sent twice by the client');
    await client().open(incident);
    await client().open(incident);
    assert.equal(emulator.incidents.size, 1);
  });

  test('bad settings are refused naming the field', () => {
    const fields = (settings: Record<string, unknown>) => {
      const result = statuspage.settingsSchema.safeParse(settings);
      assert.equal(result.success, false);
      return result.error!.issues.map((i) => i.path.join('.'));
    };
    assert.deepEqual(fields({ pageId: PAGE, apiKeyEnv: 'sk_live_abc' }), ['apiKeyEnv']);
    assert.deepEqual(fields({ pageId: PAGE, apiKeyEnv: 'STATUSPAGE_API_KEY', components: { [API]: 'operational' } }), [`components.${API}`]);
    assert.deepEqual(fields({ pageId: PAGE, apiKeyEnv: 'STATUSPAGE_API_KEY', impact: 'severe' }), ['impact']);
    assert.deepEqual(fields({ apiKeyEnv: 'STATUSPAGE_API_KEY' }), ['pageId']);
    assert.deepEqual(fields({ pageId: PAGE, apiKeyEnv: 'STATUSPAGE_API_KEY', apiKey: KEY }), ['']);
    const parsed = statuspage.settingsSchema.parse(statuspage.example);
    assert.equal(parsed.baseUrl, 'https://api.statuspage.io/v1');
    assert.equal(parsed.impact, 'major');
  });
});
