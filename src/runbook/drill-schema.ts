/**
 * The runbook's `drills:` section: rehearsals of a rollback, run by rollbackDrill on a Temporal
 * Schedule (seed 000: "Run rollback drills regularly": a staging drill with a scenario, a production
 * drill read-only; seed 001: quarterly drills that "time each step"). Each drill names the fault it
 * injects, who acts as approver and at which gates, and when it runs.
 *
 * Not imported by workflow code (only its types are), so the schema stays out of the workflow bundle.
 */
import { z } from 'zod';

const version = z.string().min(1).max(64);

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
  ],
  { error: 'must be one of {fault: {version, errorRatePct, addedLatencyMs}}, {circuitBreaker: {feature}}, {memory: {version, ratio}}, {flag: {provider, name, value}}' },
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
    scenario: drillScenarioSchema.optional().describe('the fault injected into the target; the watchdog must detect it'),
    dryRun: z.boolean().default(false).describe('a production drill: a dry run of the rollback from live state, nothing injected or changed (seed 000)'),
    mode: z.enum(['immediate', 'gradual']).default('immediate').describe("a dry-run drill's fullRollback mode"),
    approver: z.string().min(1).max(100).describe('who acts as approver in this drill'),
    approveGates: z.array(z.string().min(1)).default([]).describe('the gates the drill may pass as its approver; at any other gate it waits for a person'),
    schedule: drillScheduleSchema.optional().describe('when the Temporal Schedule runs it'),
    detectWithinMinutes: z.number().positive().max(1440).default(10).describe('the drill fails if the watchdog has not acted by then'),
    verifySeconds: z.number().min(1).max(3600).default(30).describe("health watched after the rollback ends (the rollback's own verification counts too)"),
    timeoutMinutes: z.number().positive().max(1440).default(60).describe('the drill stops waiting for its rollback after this long'),
  })
  .refine((d) => d.dryRun || d.scenario !== undefined, { message: 'a drill that is not a dry run needs a scenario to inject', path: ['scenario'] })
  .refine((d) => !d.dryRun || d.scenario === undefined, { message: 'a dry-run (production) drill injects nothing: remove its scenario', path: ['scenario'] });

export type Drill = z.infer<typeof drillSchema>;
export type DrillScenario = z.infer<typeof drillScenarioSchema>;
