/**
 * `rollback drill schedule|list|pause|resume|trigger|report --system <name>`: the runbook's drills on
 * Temporal Schedules (the UI's Schedules page shows and triggers them too), and their scorecards.
 * The drills and their schedules are read from the runbook files (RUNBOOKS_DIR, default runbooks/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { drillScheduleId, searchAttributes, TASK_QUEUE, type DrillResult } from '../contract/index.ts';
import type { Drill } from '../runbook/drill-schema.ts';
import { drillTable, renderDrillChart } from '../plan/scorecard.ts';
import type { Runbook } from '../runbook/schema.ts';
import { number, parseCommand, positionals, required, UsageError } from './args.ts';
import { table, when } from './format.ts';
import { withTemporal } from './temporal.ts';

export const drillUsage = `Usage: rollback drill <schedule|list|pause|resume|trigger|report> --system <name> [options]

The runbook's drills (drills: in RUNBOOKS_DIR/<system>.yaml) on Temporal Schedules, one per drill,
overlap SKIP (a drill never starts while the last one runs); the UI's Schedules page shows them.

  rollback drill schedule --system <name> [--drill <name>]   create or update the schedules
  rollback drill list     --system <name>                    schedules, next and last runs
  rollback drill pause    --system <name> [--drill <name>] [--reason "<why>"]
  rollback drill resume   --system <name> [--drill <name>]
  rollback drill trigger  --system <name> --drill <name>     run it now
  rollback drill report   --system <name> [--limit <n>] [--out <file.svg>]
                          the last drills' seconds per stage against the RTO targets, and a chart`;

const SUBCOMMANDS = ['schedule', 'list', 'pause', 'resume', 'trigger', 'report'] as const;

/**
 * Loaded when a drill command needs it: the runbook loader brings every provider, which `rollback help`
 * need not wait for. A drill naming a staging system is refused here when no runbook has that name, so
 * a schedule is never made for a drill that would fail at its first run.
 */
async function runbookOf(system: string): Promise<Runbook> {
  const dir = process.env.RUNBOOKS_DIR ?? 'runbooks';
  const { loadRunbooks } = await import('../runbook/load.ts');
  const runbooks = loadRunbooks(resolve(dir));
  const runbook = runbooks.get(system);
  if (!runbook) throw new UsageError(`no runbook for system '${system}' in ${dir}`);
  for (const [name, d] of Object.entries(runbook.drills)) {
    if (d.system !== undefined && !runbooks.has(d.system)) {
      throw new UsageError(`drill ${name} of ${system} names system '${d.system}', which has no runbook in ${dir}; known systems: ${[...runbooks.keys()].sort().join(', ')}`);
    }
  }
  return runbook;
}

function drillsOf(runbook: Runbook, only: string | undefined): [string, Drill][] {
  const all = Object.entries(runbook.drills);
  if (all.length === 0) throw new UsageError(`the ${runbook.system} runbook has no drills: section`);
  if (only === undefined) return all;
  const found = all.filter(([name]) => name === only);
  if (found.length === 0) throw new UsageError(`no drill '${only}' in the ${runbook.system} runbook; its drills: ${all.map(([n]) => n).join(', ')}`);
  return found;
}

function spec(drill: Drill): ScheduleOptions['spec'] {
  if (!drill.schedule) throw new Error('no schedule');
  return 'cron' in drill.schedule ? { cronExpressions: [drill.schedule.cron] } : { intervals: [{ every: `${drill.schedule.everyMinutes}m` }] };
}

const specText = (drill: Drill) => (!drill.schedule ? '-' : 'cron' in drill.schedule ? `cron ${drill.schedule.cron}` : `every ${drill.schedule.everyMinutes} min`);

/**
 * Creates the drill's Schedule, or updates it to what the runbook says now: overlap SKIP, so a drill
 * never starts while the last one runs. The UI's Schedules page lists it and can trigger it.
 */
export async function scheduleDrill(client: Client, system: string, name: string, d: Drill): Promise<'created' | 'updated'> {
  const scheduleId = drillScheduleId(system, name);
  const options: ScheduleOptions = {
    scheduleId,
    spec: spec(d),
    action: { type: 'startWorkflow', workflowType: 'rollbackDrill', taskQueue: TASK_QUEUE, workflowId: `drill-${system}-${name}`, args: [{ system, drill: name, requestedBy: 'schedule' }] },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    state: { note: d.description ?? `drill ${name} of ${system}` },
    searchAttributes: { [searchAttributes.system.name]: [system] },
  };
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP } }));
    return 'updated';
  }
}

export async function drill(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    system: { type: 'string' },
    drill: { type: 'string' },
    reason: { type: 'string' },
    limit: { type: 'string' },
    out: { type: 'string' },
  });
  const [sub] = positionals(given, ['subcommand (schedule, list, pause, resume, trigger or report)']);
  if (!(SUBCOMMANDS as readonly string[]).includes(sub!)) throw new UsageError(`unknown subcommand '${sub}'; must be one of ${SUBCOMMANDS.join(', ')}`);
  const system = required(values.system, 'system', 'name');
  if (sub === 'trigger') required(values.drill, 'drill', 'name');
  const limit = number(values.limit, 'limit') ?? 10;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number; got '${values.limit}'`);
  const runbook = sub === 'report' ? null : await runbookOf(system);
  const drills = runbook ? drillsOf(runbook, values.drill) : [];

  return withTemporal(async (temporal) => {
    const schedules = temporal.client.schedule;
    const ui = (id: string) => `${(process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233').replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporal.namespace)}/schedules/${encodeURIComponent(id)}`;
    const missing = (id: string) => (err: unknown): never => {
      if (err instanceof ScheduleNotFoundError) throw new Error(`no schedule ${id}: create it with rollback drill schedule --system ${system}`);
      throw err;
    };
    switch (sub) {
      case 'schedule': {
        for (const [name, d] of drills) {
          const scheduleId = drillScheduleId(system, name);
          if (!d.schedule) {
            console.log(`${name}: no schedule in the runbook; run it from the UI: workflow type rollbackDrill, input {"system": "${system}", "drill": "${name}"}`);
            continue;
          }
          const verb = await scheduleDrill(temporal.client, system, name, d);
          const next = (await schedules.getHandle(scheduleId).describe()).info.nextActionTimes[0];
          console.log(`${verb} ${scheduleId} (${specText(d)}; next ${when(next)})\n  ${ui(scheduleId)}`);
        }
        return 0;
      }
      case 'list': {
        const rows: string[][] = [];
        for (const [name, d] of drills) {
          const scheduleId = drillScheduleId(system, name);
          const described = await schedules.getHandle(scheduleId).describe().catch((err) => {
            if (err instanceof ScheduleNotFoundError) return null;
            throw err;
          });
          if (!described) {
            rows.push([name, specText(d), 'not scheduled', '-', '-']);
            continue;
          }
          const last = described.info.recentActions.at(-1);
          rows.push([name, specText(d), described.state.paused ? `paused: ${described.state.note ?? ''}` : 'active', when(described.info.nextActionTimes[0]), last ? `${when(last.takenAt)} ${last.action.workflow.workflowId}` : '-']);
        }
        console.log(table(['DRILL', 'SCHEDULE', 'STATE', 'NEXT RUN', 'LAST RUN'], rows));
        return 0;
      }
      case 'pause':
      case 'resume':
        for (const [name] of drills) {
          const handle = schedules.getHandle(drillScheduleId(system, name));
          if (sub === 'pause') await handle.pause(values.reason ?? 'paused from rollback drill pause').catch(missing(handle.scheduleId));
          else await handle.unpause('resumed from rollback drill resume').catch(missing(handle.scheduleId));
          console.log(`${sub === 'pause' ? 'paused' : 'resumed'} ${handle.scheduleId}`);
        }
        return 0;
      case 'trigger': {
        const handle = schedules.getHandle(drillScheduleId(system, values.drill!));
        await handle.trigger().catch(missing(handle.scheduleId));
        console.log(`triggered ${handle.scheduleId} (skipped if the last drill still runs)\n  ${ui(handle.scheduleId)}`);
        return 0;
      }
      default: {
        // The results live in Temporal: every closed drill's result, newest first from visibility.
        const query = `${searchAttributes.kind.name} = 'rollbackDrill' AND ${searchAttributes.system.name} = '${system.replace(/'/g, '')}' AND ExecutionStatus = 'Completed'`;
        const found: { startTime: Date; workflowId: string }[] = [];
        for await (const w of temporal.client.workflow.list({ query })) found.push({ startTime: w.startTime, workflowId: w.workflowId });
        found.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
        const results: DrillResult[] = [];
        for (const w of found.slice(0, limit).reverse()) results.push(await temporal.client.workflow.getHandle(w.workflowId).result());
        if (results.length === 0) {
          console.log(`no finished drills of ${system} yet (rollback drill trigger --system ${system} --drill <name>)`);
          return 0;
        }
        const { headers, rows } = drillTable(results);
        const targets = results.at(-1)!.stages.map((s) => `${s.stage} ${s.targetSeconds}`).join(', ');
        console.log(`${system}: the last ${results.length} drills, seconds per stage ("!" missed its target; targets: ${targets})\n`);
        console.log(table(headers, rows));
        const out = resolve(values.out ?? `drills-${system}.svg`);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, renderDrillChart(results, `${system}: seconds per stage, last ${results.length} drills`));
        console.log(`\nchart: ${out}`);
        return 0;
      }
    }
  });
}
