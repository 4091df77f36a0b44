/**
 * The runbook's `watch:` section: what rollbackWatchdog measures, how often, and what each rule does
 * when it is breached. Seed 000's "Automatic Triggers" are the model: error rate > 10%, P95 > 3000 ms
 * and success rate < 90% roll back at once; a circuit breaker open > 5 minutes disables only its
 * feature; memory > 95% scales and alerts, then rolls back if not resolved.
 *
 * Not imported by workflow code (only its types are), so the schema stays out of the workflow bundle.
 */
import { z } from 'zod';
import { featureName, GAUGE_SELECTOR } from '../contract/index.ts';

const ruleName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits or "-"');

const rollbackAction = z.strictObject({ rollback: z.enum(['immediate', 'gradual']).describe('start a fullRollback in this mode') });
const configAction = z.strictObject({
  configRollback: z
    .strictObject({
      killSwitches: z.record(featureName, z.boolean()).optional(),
      flags: z.record(featureName, z.boolean()).optional(),
    })
    .refine((c) => Object.keys({ ...c.killSwitches, ...c.flags }).length > 0, 'name at least one kill switch or flag')
    .describe('start a configRollback of just these, e.g. {killSwitches: {grok: true}} to disable one feature'),
});
const scaleAction = z.strictObject({
  scaleAndAlert: z
    .strictObject({
      version: z.string().min(1).describe('the version to scale, e.g. stable; with provider, a target of that provider (a Fly version, a Deployment, a Compose service)'),
      provider: z
        .string()
        .regex(/^[a-z0-9][a-z0-9_-]*$/)
        .optional()
        .describe('a provider of instance scaling under providers:; left out, the traffic section scales'),
      instances: z.int().min(1).max(1000),
      deadlineSeconds: z.number().positive().describe('if the rule still breaches this long after scaling, roll back'),
      thenRollback: z.enum(['immediate', 'gradual']).default('immediate'),
    })
    .describe('scale and alert at once; roll back if it is not resolved by the deadline'),
});
const alertAction = z.strictObject({ alert: z.literal(true).describe('only notify the runbook channels') });

export const watchActionSchema = z.union([rollbackAction, configAction, scaleAction, alertAction], {
  error: 'must be one of {rollback: immediate|gradual}, {configRollback: {killSwitches|flags}}, {scaleAndAlert: {...}}, {alert: true}',
});

export const watchRuleSchema = z
  .strictObject({
    name: ruleName,
    metric: z.enum(['errorRatePct', 'p95Ms', 'successRatePct']).optional().describe("a rate over the interval, from the runbook's health metrics"),
    gauge: z.string().regex(GAUGE_SELECTOR, 'must be a series like circuit_breaker_open{feature="grok"}').optional().describe('a gauge on the same metrics endpoint'),
    above: z.number().optional(),
    below: z.number().optional(),
    consecutive: z.int().min(1).max(1000).optional().describe('breaches in a row before it acts (default 1)'),
    forSeconds: z.number().positive().optional().describe('the breach must hold this long: evaluations in a row = forSeconds / intervalSeconds, rounded up'),
    action: watchActionSchema,
  })
  .refine((r) => (r.metric === undefined) !== (r.gauge === undefined), 'give exactly one of metric and gauge')
  .refine((r) => (r.above === undefined) !== (r.below === undefined), 'give exactly one of above and below')
  .refine((r) => r.consecutive === undefined || r.forSeconds === undefined, 'give consecutive or forSeconds, not both');

export const watchSchema = z
  .strictObject({
    intervalSeconds: z.number().min(1).max(3600).default(30).describe('one evaluation per interval, over the requests of that interval'),
    minRequests: z.int().min(1).optional().describe("fewer requests than this in an interval is inconclusive (default: the health section's minRequests)"),
    inconclusive: z
      .enum(['alert', 'breach'])
      .default('alert')
      .describe('no data or too little traffic: alert (never healthy, never a rollback) or count it as a breach'),
    rules: z.array(watchRuleSchema).min(1),
  })
  .superRefine((watch, ctx) => {
    const names = watch.rules.map((r) => r.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name ${name}` });
    });
  });

export type WatchSection = z.infer<typeof watchSchema>;
export type WatchRule = z.infer<typeof watchRuleSchema>;
export type WatchAction = z.infer<typeof watchActionSchema>;
