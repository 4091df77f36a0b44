/**
 * `rollback watch start|stop|status|pause|resume --system <name>`: the system's rollbackWatchdog,
 * one per system under the fixed workflow ID rollback-watchdog:<system>. `rollback watch rules`
 * writes the same rules for Prometheus instead (watch-rules.ts).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { TASK_QUEUE, watchdogWorkflowId, type WatchdogStatus } from '../contract/index.ts';
import { EXIT_REFUSED, number, parseCommand, positionals, required, UsageError } from './args.ts';
import { clock, table, when } from './format.ts';
import { queryWorkflow, uiLink, withTemporal, type Temporal } from './temporal.ts';
import { pauseSignal, resumeSignal, watchdogStatusQuery } from '../contract/messages.ts';
import { DEFAULT_CREDENTIALS_FILE, watchRules } from './watch-rules.ts';

export const watchUsage = `Usage: rollback watch <start|stop|status|pause|resume|rules> --system <name> [options]

The system's watchdog (rollbackWatchdog, workflow ID rollback-watchdog:<system>) judges the runbook's
watch: rules every interval and starts the rollback a breached rule names.

  rollback watch start  --system <name> [--by <you>]
  rollback watch status --system <name> [--json]
  rollback watch pause  --system <name> --by <you> --reason "<why>" [--minutes <n>]
  rollback watch resume --system <name> --by <you>
  rollback watch stop   --system <name>          (cancels it; a rollback it started goes on)

Or let Prometheus and Alertmanager watch: the same rules as Prometheus alerting rules, thresholds
still kept in the runbook, and the Alertmanager route to the worker's receiver:

  rollback watch rules  --system <name> [--runbooks <dir>] [--out <rules.yml>]
                        [--receiver-url <url>] [--credentials-file <path>]
      --runbooks          the runbook files (default: RUNBOOKS_DIR, else runbooks/)
      --out               write the rules file there (default: print it, the Alertmanager part as comments)
      --receiver-url      the worker's receiver (default: http://<ALERT_RECEIVER_ADDRESS>/alertmanager,
                          else http://127.0.0.1:9095/alertmanager)
      --credentials-file  the file Alertmanager reads the bearer token from (default:
                          ${DEFAULT_CREDENTIALS_FILE}); the token itself is never printed
  A rule PromQL cannot say (a rate rule without the prometheus metrics provider) is refused, named (exit 3).`;

const SUBCOMMANDS = ['start', 'stop', 'status', 'pause', 'resume', 'rules'] as const;

export async function watch(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    system: { type: 'string' },
    by: { type: 'string' },
    reason: { type: 'string' },
    minutes: { type: 'string' },
    json: { type: 'boolean' },
    runbooks: { type: 'string' },
    out: { type: 'string' },
    'receiver-url': { type: 'string' },
    'credentials-file': { type: 'string' },
  });
  const [sub] = positionals(given, ['subcommand (start, stop, status, pause, resume or rules)']);
  if (!(SUBCOMMANDS as readonly string[]).includes(sub!)) throw new UsageError(`unknown subcommand '${sub}'; must be one of ${SUBCOMMANDS.join(', ')}`);
  const system = required(values.system, 'system', 'name');
  if (sub === 'rules') {
    return watchRules({ system, runbooks: values.runbooks, out: values.out, receiverUrl: values['receiver-url'], credentialsFile: values['credentials-file'] });
  }
  const workflowId = watchdogWorkflowId(system);
  const minutes = number(values.minutes, 'minutes');
  if (sub === 'pause') {
    required(values.by, 'by', 'you');
    required(values.reason, 'reason', 'why');
  }
  if (sub === 'resume') required(values.by, 'by', 'you');

  return withTemporal(async (temporal) => {
    const handle = temporal.client.workflow.getHandle(workflowId);
    const missing = (err: unknown): never => {
      if (err instanceof WorkflowNotFoundError) throw new Error(`no watchdog of ${system} is running (start one: rollback watch start --system ${system})`);
      throw err;
    };
    switch (sub) {
      case 'start':
        try {
          await temporal.client.workflow.start('rollbackWatchdog', { taskQueue: TASK_QUEUE, workflowId, args: [{ system, startedBy: values.by ?? 'rollback-watchdog' }] });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          console.error(`a watchdog of ${system} is already running: ${workflowId} (rollback watch status --system ${system})`);
          return EXIT_REFUSED;
        }
        console.log(`started ${workflowId}\n  ${uiLink(temporal.namespace, workflowId)}\n  next: rollback watch status --system ${system}`);
        return 0;
      case 'stop':
        await handle.cancel().catch(missing);
        console.log(`stopping ${workflowId}; a rollback it started goes on`);
        return 0;
      case 'pause':
        await handle.signal(pauseSignal, { by: values.by, reason: values.reason, ...(minutes !== undefined ? { untilMinutes: minutes } : {}) }).catch(missing);
        return confirm(temporal, system, (s) => s.paused?.by === values.by?.trim(), 'paused');
      case 'resume':
        await handle.signal(resumeSignal, { by: values.by }).catch(missing);
        return confirm(temporal, system, (s) => s.paused === null, 'resumed');
      default: {
        await handle.describe().catch(missing);
        const status = await queryWorkflow(temporal, handle, watchdogStatusQuery);
        if (values.json) console.log(JSON.stringify(status, null, 2));
        else console.log(render(status));
        return 0;
      }
    }
  });
}

/** Signals are judged by the watchdog: read its status back and say whether it took the request or why not. */
async function confirm(temporal: Temporal, system: string, took: (s: WatchdogStatus) => boolean, what: string): Promise<number> {
  const handle = temporal.client.workflow.getHandle(watchdogWorkflowId(system));
  for (let i = 0; i < 20; i++) {
    const status = await queryWorkflow(temporal, handle, watchdogStatusQuery);
    const refused = status.events.filter((e) => e.kind === 'refused').at(-1);
    if (took(status)) {
      console.log(`${what}: ${render(status).split('\n')[0]}`);
      return 0;
    }
    if (refused && Date.now() - Date.parse(refused.at) < 10_000) {
      console.error(`refused: ${refused.detail}`);
      return EXIT_REFUSED;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(`the watchdog has not ${what} yet; see rollback watch status --system ${system}`);
  return EXIT_REFUSED;
}

export function render(status: WatchdogStatus): string {
  const head =
    status.state === 'paused'
      ? `paused by ${status.paused!.by}${status.paused!.until ? ` until ${when(status.paused!.until)}` : ''}: ${status.paused!.reason}`
      : status.state === 'following'
        ? `following: ${status.following!.what}`
        : `watching every ${status.intervalSeconds} s`;
  const lines = [`${status.system} watchdog: ${head} (${status.evaluationsTotal} evaluations)`, ''];
  lines.push(
    table(
      ['RULE', 'LAST', 'BREACHES', 'WOULD DO'],
      status.rules.map((r) => [r.name, r.last?.detail ?? '-', `${r.streak}/${r.needed}`, r.wouldDo]),
    ),
  );
  if (status.actions.length) {
    lines.push('', 'Actions:');
    lines.push(table(['AT', 'RULE', 'DETECTED', 'WHAT', 'OUTCOME'], status.actions.map((a) => [when(a.at), a.rule, clock(a.detectedAt), a.what, a.outcome ?? 'running'])));
  }
  const events = status.events.slice(-8);
  if (events.length) {
    lines.push('', 'Events:');
    lines.push(table(['AT', 'KIND', 'DETAIL'], events.map((e) => [when(e.at), e.kind, e.detail])));
  }
  return lines.join('\n');
}
