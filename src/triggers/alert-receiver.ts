/**
 * A receiver for Prometheus Alertmanager's webhook, for teams that already alert from Alertmanager:
 * an alert whose labels name a system and one of its runbook's watch rules starts that rule's
 * rollback, through the same path as the watchdog (startTriggeredRollback: the system's lock
 * decides, and the same alert sent again starts nothing twice).
 *
 * Alertmanager's configuration (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config):
 *
 *   receivers:
 *     - name: rollbacks
 *       webhook_configs:
 *         - url: http://127.0.0.1:9095/alertmanager
 *           http_config: { authorization: { credentials_file: /etc/alertmanager/rollback-token } }
 *
 * An alert names its system with the label `rollback_system` (or `system`) and its rule with
 * `rollback_rule` (or its `alertname`). Resolved alerts, unknown systems and rules, and rules whose
 * action is not a rollback are answered and recorded, never acted on. Alertmanager retries a webhook
 * that fails, so only a request that cannot be read (401, 400) is answered with an error.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { startTriggeredRollback } from '../activities/watch.ts';
import { formatProblems, validate } from '../contract/index.ts';
import type { Runbook } from '../runbook/schema.ts';

/** Alertmanager's webhook payload, version 4 (fields we do not use are allowed and ignored). */
const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  startsAt: z.iso.datetime({ offset: true }),
  fingerprint: z.string().regex(/^[0-9a-zA-Z]{1,64}$/).optional(),
});
const webhookSchema = z.object({
  version: z.string(),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(alertSchema).max(1000),
});
type Alert = z.infer<typeof alertSchema>;

/** What became of one alert: started, already handled, or recorded and left alone, with why. */
export interface AlertOutcome {
  alert: string;
  system: string | null;
  rule: string | null;
  outcome: 'started' | 'repeated' | 'already-running' | 'ignored';
  detail: string;
  workflowId: string | null;
}

export interface AlertReceiverOptions {
  /** host:port; the receiver refuses to listen beyond loopback without a token. */
  address: string;
  /** The shared token Alertmanager sends as `Authorization: Bearer <token>`; null: none asked for (loopback only). */
  token: string | null;
  runbooks: ReadonlyMap<string, Runbook>;
  client: Client;
  logger: Logger;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const MAX_BODY = 1 << 20;

export async function startAlertReceiver(options: AlertReceiverOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const [host, portText] = splitAddress(options.address);
  if (!options.token && !LOOPBACK.has(host)) {
    throw new Error(`the alert receiver would listen on ${options.address} without a token: set the variable ALERT_RECEIVER_TOKEN_ENV names, or listen on 127.0.0.1`);
  }
  const server = createServer((req, res) => {
    const answer = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    handle(req, options)
      .then(([status, body]) => answer(status, body))
      .catch((err: Error) => {
        options.logger.error({ err: err.message }, 'alert receiver failed');
        answer(500, { error: err.message }); // Alertmanager retries: nothing was decided
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}/alertmanager`;
  options.logger.info({ url, auth: options.token ? 'bearer token required' : 'none (loopback only)' }, 'Alertmanager receiver listening');
  return { server, url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), address.slice(at + 1)];
}

async function handle(req: IncomingMessage, options: AlertReceiverOptions): Promise<[number, unknown]> {
  if (req.method !== 'POST' || req.url !== '/alertmanager') return [404, { error: 'POST Alertmanager webhooks to /alertmanager' }];
  if (options.token && !sameToken(req.headers.authorization, options.token)) {
    options.logger.warn({ from: req.socket.remoteAddress }, 'alert refused: missing or wrong token');
    return [401, { error: 'missing or wrong bearer token' }];
  }
  const raw = await readBody(req);
  if (raw === null) return [413, { error: 'the body is over 1 MiB' }];
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return [400, { error: 'the body is not JSON: expected an Alertmanager webhook payload (version 4)' }];
  }
  const parsed = validate(webhookSchema, body);
  if (!parsed.ok) return [400, { error: `not an Alertmanager webhook payload:\n${formatProblems(parsed.problems, '  ')}` }];
  const results: AlertOutcome[] = [];
  for (const alert of parsed.data.alerts) {
    const result = await act(alert, options);
    results.push(result);
    options.logger.info({ ...result }, `alert ${result.outcome}: ${result.detail}`);
  }
  return [200, { results }];
}

/** One alert: which system and rule it names, and whether that starts a rollback. */
async function act(alert: Alert, { runbooks, client }: AlertReceiverOptions): Promise<AlertOutcome> {
  const system = alert.labels.rollback_system ?? alert.labels.system ?? null;
  const rule = alert.labels.rollback_rule ?? alert.labels.alertname ?? null;
  const name = alert.labels.alertname ?? '(no alertname)';
  const ignored = (detail: string): AlertOutcome => ({ alert: name, system, rule, outcome: 'ignored', detail, workflowId: null });
  if (alert.status === 'resolved') return ignored('resolved: recorded, nothing to do');
  if (!system) return ignored('no rollback_system or system label: no runbook to act on');
  const runbook = runbooks.get(system);
  if (!runbook) return ignored(`unknown system '${system}'; known systems: ${[...runbooks.keys()].sort().join(', ')}`);
  const watchRule = runbook.watch?.rules.find((r) => r.name === rule);
  if (!watchRule) {
    const names = runbook.watch?.rules.map((r) => r.name).join(', ') || '(none: the runbook has no watch section)';
    return ignored(`no watch rule '${rule}' in the ${system} runbook; its rules: ${names}`);
  }
  const action = watchRule.action;
  if (!('rollback' in action) && !('configRollback' in action)) return ignored(`rule ${watchRule.name} does not roll back (it scales or alerts): left to the watchdog`);
  const summary = alert.annotations.summary ?? alert.annotations.description ?? name;
  const stamp = alert.fingerprint ?? alert.startsAt.replace(/[^0-9]/g, '').slice(0, 14);
  const outcome = await startTriggeredRollback(client, {
    system,
    workflowType: 'rollback' in action ? 'fullRollback' : 'configRollback',
    workflowId: `${system}-${watchRule.name}-alert-${stamp}`,
    input: {
      ...('rollback' in action ? { mode: action.rollback } : action.configRollback),
      system,
      reason: `Alertmanager alert ${name}: ${summary}`.slice(0, 2000),
      requestedBy: 'alertmanager',
      detectedAt: alert.startsAt,
    },
  });
  if (!outcome.started) return { alert: name, system, rule: watchRule.name, outcome: 'already-running', detail: outcome.why, workflowId: outcome.workflowId };
  return {
    alert: name,
    system,
    rule: watchRule.name,
    outcome: outcome.repeated ? 'repeated' : 'started',
    detail: outcome.repeated ? `this alert already started ${outcome.workflowId}` : `started ${outcome.workflowId}`,
    workflowId: outcome.workflowId,
  };
}

function sameToken(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '');
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The body, or null past MAX_BODY. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
