/**
 * The runbook's `drills:` section: rehearsals of a rollback, run by rollbackDrill on a Temporal
 * Schedule (seed 000: "Run rollback drills regularly": a staging drill with a scenario, a production
 * drill read-only; seed 001: quarterly drills that "time each step"). Each drill names the fault it
 * injects, who acts as approver and at which gates, and when it runs.
 *
 * A scenario is a sandbox fault (fault, circuitBreaker, memory, flag: through the sandbox router's
 * switches, detected by the watchdog), a runbook action carried out and undone by its kind's module
 * (`{action: {release: {target: canary, to: registry.fly.io/app:bad}}}`, a command with its undo), or
 * an HTTP call with its undo call. `system:` points the drill at a staging system's runbook while the
 * drill is defined in the production one.
 *
 * Not imported by workflow code (only its types are), so the schema stays out of the workflow bundle.
 */
import { z } from 'zod';
import { ACTIONS } from '../actions/index.ts';
import { systemName } from '../contract/index.ts';
import { httpCheckSchema } from './health-schema.ts';

const version = z.string().min(1).max(64);

/**
 * The action kinds a drill may inject: each has an undo the drill runs afterwards. Restores, down SQL,
 * git reverts and clones have none a drill could run, and a restart is no fault.
 */
export const DRILL_ACTION_KINDS = ['release', 'flag', 'config', 'scale', 'secret', 'secret-version', 'kill-switch', 'command'] as const;

/**
 * A union's message from the one option the input was meant for (the one with its key, so no
 * unrecognized key at its top), with the path inside it: "release.target: Invalid input: ..." instead
 * of every option's complaint. Undefined when no single option fits.
 */
function meantOption(issue: { errors?: unknown }): string | undefined {
  const options = (issue.errors ?? []) as { code: string; path: PropertyKey[]; message: string }[][];
  const meant = options.filter((issues) => !issues.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) && !issues.every((i) => i.code === 'invalid_type' && i.path.length === 1));
  if (meant.length !== 1 || meant[0]!.length === 0) return undefined;
  const first = meant[0]![0]!;
  return first.path.length > 0 ? `${first.path.map(String).join('.')}: ${first.message}` : first.message;
}

const drillAction = z.union(
  DRILL_ACTION_KINDS.map((kind) => ACTIONS[kind].schema()) as unknown as [z.ZodType<DrillAction>, ...z.ZodType<DrillAction>[]],
  {
    error: (issue) => {
      const given = issue.input && typeof issue.input === 'object' ? Object.keys(issue.input).find((key) => key in ACTIONS) : undefined;
      const kinds = DRILL_ACTION_KINDS.join(', ');
      if (given && !(DRILL_ACTION_KINDS as readonly string[]).includes(given)) return `a ${given} action cannot be a drill scenario: the drill must undo what it injects; use one of ${kinds}`;
      return meantOption(issue) ?? `must be one runbook action a drill can undo (${kinds}), written as in a phase's rollback:`;
    },
  },
);
type DrillAction = z.output<ReturnType<(typeof ACTIONS)[(typeof DRILL_ACTION_KINDS)[number]]['schema']>>;

/** An HTTP call of a scenario: the health check's request fields (secret headers by variable name), no name or JSON expectations. */
// The cast: safeExtend types a replaced key as the old one's; `name` only gains a default here.
const httpCall = httpCheckSchema.safeExtend({ name: z.string().default('drill') } as unknown as Pick<typeof httpCheckSchema.shape, 'name'>);

export const drillScenarioSchema = z.union(
  [
    z.strictObject({
      fault: z.strictObject({ version, errorRatePct: z.number().min(0).max(100).default(0), addedLatencyMs: z.number().min(0).max(30_000).default(0) }),
    }),
    z.strictObject({ circuitBreaker: z.strictObject({ feature: z.string().regex(/^[a-z0-9_-]{1,64}$/) }) }),
    z.strictObject({ memory: z.strictObject({ version, ratio: z.number().min(0).max(1) }) }),
    z.strictObject({
      flag: z.strictObject({ provider: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/).describe('the runbook provider (under providers:) that holds the flag'), name: z.string().min(1).max(200), value: z.boolean() }),
    }),
    z.strictObject({ action: drillAction.describe('a runbook action carried out to inject the fault (a bad release to the staging canary, a flag, a command with its undo) and undone by its kind afterwards') }),
    z.strictObject({
      http: z
        .strictObject({
          request: httpCall.describe('the call that injects the fault (method, url, headers, headersFromEnv, body, expectStatus, timeoutSeconds)'),
          undo: httpCall.describe('the call that takes it away again; always made after the drill'),
        })
        .describe('an HTTP call that injects the fault (set a fault flag), and the call that undoes it'),
    }),
  ],
  {
    error: (issue) =>
      meantOption(issue) ??
      'must be one of {fault: {version, errorRatePct, addedLatencyMs}}, {circuitBreaker: {feature}}, {memory: {version, ratio}}, {flag: {provider, name, value}}, {action: <a runbook action with an undo>}, {http: {request, undo}}',
  },
);

export const drillScheduleSchema = z.union(
  [
    z.strictObject({ cron: z.string().regex(/^\S+( \S+){4,6}$/, 'must be a cron expression like "0 3 * * 1"') }),
    z.strictObject({ everyMinutes: z.number().min(1).max(527_040) }),
  ],
  { error: 'must be {cron: "0 3 * * 1"} or {everyMinutes: 60}' },
);

export const drillSchema = z
  .strictObject({
    description: z.string().max(500).optional(),
    system: systemName.optional().describe("a staging system's runbook: the drill injects into and rolls back that system instead of this one (checked when the drill starts)"),
    scenario: drillScenarioSchema.optional().describe('the fault injected into the target; detected by the watchdog where the target has watch: rules, else the drill starts the rollback itself'),
    dryRun: z
      .boolean()
      .default(false)
      .describe("a read-only production drill (seed 000): every provider's read, every gate's approvers, a dry run of the rollback from live state; nothing injected or changed"),
    mode: z.enum(['immediate', 'gradual']).default('immediate').describe("a dry-run drill's fullRollback mode"),
    approver: z.string().min(1).max(100).describe('who acts as approver in this drill'),
    approveGates: z.array(z.string().min(1)).default([]).describe('the gates the drill may pass as its approver; at any other gate it waits for a person'),
    schedule: drillScheduleSchema.optional().describe('when the Temporal Schedule runs it'),
    detectWithinMinutes: z.number().positive().max(1440).default(10).describe('the drill fails if the watchdog has not acted by then'),
    verifySeconds: z.number().min(1).max(3600).default(30).describe("health watched after the rollback ends (the rollback's own verification counts too)"),
    timeoutMinutes: z.number().positive().max(1440).default(60).describe('the drill stops waiting for its rollback after this long'),
  })
  .refine((d) => d.dryRun || d.scenario !== undefined, { message: 'a drill that is not a dry run needs a scenario to inject', path: ['scenario'] })
  .refine((d) => !d.dryRun || d.scenario === undefined, { message: 'a dry-run (production) drill injects nothing: remove its scenario', path: ['scenario'] })
  .refine((d) => !(d.scenario && 'action' in d.scenario && 'command' in d.scenario.action && !d.scenario.action.undo), {
    message: 'a command scenario needs its undo: the drill runs it afterwards to put the target back',
    path: ['scenario', 'action', 'undo'],
  });

export type Drill = z.infer<typeof drillSchema>;
export type DrillScenario = z.infer<typeof drillScenarioSchema>;

/** The sandbox scenarios: injected through the router's fault switches (a flag through a flags provider), detected by the watchdog. */
export function isSandboxScenario(scenario: DrillScenario): scenario is Extract<DrillScenario, { fault: unknown } | { circuitBreaker: unknown } | { memory: unknown } | { flag: unknown }> {
  return 'fault' in scenario || 'circuitBreaker' in scenario || 'memory' in scenario || 'flag' in scenario;
}

/** What the runbook checks of its drills need to see (a structural type: schema.ts calls this from its own refinement). */
interface DrilledRunbook {
  system: string;
  watch?: unknown;
  traffic?: unknown;
  release?: unknown;
  providers: Record<string, unknown>;
  gates: Record<string, { role: string }>;
  approvers: Record<string, string[]>;
  drills: Record<string, Drill>;
}

/**
 * The drills' checks against the rest of their runbook. A drill naming another `system:` is checked
 * against that runbook when it starts (runbooks load one at a time), by this same function.
 */
export function checkDrills(runbook: DrilledRunbook, addIssue: (path: (string | number)[], message: string) => void): void {
  for (const [name, drill] of Object.entries(runbook.drills)) {
    const path = ['drills', name];
    if (drill.system === runbook.system) addIssue([...path, 'system'], `drill ${name} names its own runbook as system: leave system: out, or name the staging system it drills`);
    const own = drill.system === undefined || drill.system === runbook.system;
    if (!own) continue; // everything else is the staging system's to have: checked when the drill starts
    const sandbox = drill.scenario && isSandboxScenario(drill.scenario);
    if (sandbox && !runbook.watch) addIssue(path, `drill ${name} injects a fault for the watchdog to detect, but the runbook has no watch: section`);
    if (sandbox && !runbook.traffic) addIssue(path, `drill ${name} rehearses a fullRollback, which needs a traffic section`);
    if (drill.scenario && !sandbox && !runbook.traffic && !runbook.release) {
      addIssue(path, `drill ${name} rehearses a fullRollback, which needs a traffic or release section (or a staging system: that has one)`);
    }
    const flag = drill.scenario && 'flag' in drill.scenario ? drill.scenario.flag : null;
    if (flag && !runbook.providers[flag.provider]) {
      addIssue([...path, 'scenario', 'flag', 'provider'], `unknown provider '${flag.provider}'; the runbook's providers: ${Object.keys(runbook.providers).join(', ') || 'none'}`);
    }
    drill.approveGates.forEach((gate, i) => {
      const settings = runbook.gates[gate];
      if (!settings) addIssue([...path, 'approveGates', i], `unknown gate '${gate}'; the runbook's gates: ${Object.keys(runbook.gates).join(', ') || 'none'}`);
      else if (runbook.approvers[settings.role] && !runbook.approvers[settings.role]!.includes(drill.approver)) {
        addIssue([...path, 'approver'], `${drill.approver} may not pass gate ${gate}: role ${settings.role} lists ${runbook.approvers[settings.role]!.join(', ')}`);
      }
    });
  }
}
