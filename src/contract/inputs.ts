/**
 * The inputs of every workflow, as a person types them into the Temporal UI's Start Workflow form
 * or the CLI sends them. Workflows parse their input with these inside the workflow (src/workflows/
 * input.ts), and the CLI checks its flags against them before starting anything.
 *
 * Each input schema is made the first time it is used (z.lazy), not when this module loads: every
 * open workflow evaluates the workflow bundle's modules once more for itself (the SDK's reusable V8
 * context), and all of them made eagerly came to some 600 zod schema objects, about 0.5 MB of each
 * rollback's memory, for the one input and the few signals it ever parses (`npm run bench:capacity`).
 */
import { z } from 'zod';
import { oncePerWorker } from './schema-cache.ts';
import { configKey, featureName, freeText, personName, systemName } from './payloads.ts';

/** Every rollback input carries these (DESIGN.md: public contract). */
const commonInput = () => ({
  system: systemName,
  reason: freeText('why the rollback is needed'),
  requestedBy: personName,
  dryRun: z.boolean().default(false),
});

/** The runbook database a workflow works on. */
const databaseName = () => z.string().min(1, "must name one of the runbook's databases (e.g. \"main\")").max(63, 'must be at most 63 characters (a Postgres name)');
const databaseRefShape = () => ({ system: systemName, database: databaseName() });

/** backupCatalog's input: the runbook database whose backups it lists. */
export const databaseRef = z.lazy(oncePerWorker('inputs.databaseRef', () => z.strictObject(databaseRefShape())));

export const fullRollbackInput = z.lazy(oncePerWorker('inputs.fullRollbackInput', () =>
  z
    .strictObject({
      ...commonInput(),
      mode: z.enum(['immediate', 'gradual']),
      steps: z
        .array(z.int().min(0).max(100))
        .min(1)
        .max(20)
        .refine((steps) => steps.at(-1) === 0, 'the last step must take the canary to 0')
        .optional()
        .describe('canary weights for a gradual rollback, e.g. [50, 0]; default from the runbook'),
      verifyWindowSeconds: z.number().min(0).max(3600).optional().describe("overrides the runbook's health window"),
      stepPauseSeconds: z.number().min(0).max(86_400).optional().describe("overrides the runbook's pause between gradual steps"),
      baselineSeconds: z.number().min(0).max(600).default(5).describe('health baseline measured before any change'),
      detectedAt: z.iso.datetime({ offset: true }).optional().describe('when the incident was detected, for the RTO scorecard'),
    })
    // Steps given to an immediate rollback would be dropped without a word: say so instead.
    .refine((input) => input.mode !== 'immediate' || input.steps === undefined, {
      path: ['steps'],
      message: 'only a gradual rollback takes steps; remove them or use mode "gradual"',
    }),
));
export type FullRollbackInput = z.input<typeof fullRollbackInput>;

export const dataRestoreInput = z.lazy(oncePerWorker('inputs.dataRestoreInput', () =>
  z
    .strictObject({
      ...commonInput(),
      database: databaseName(),
      action: z.enum(['restore', 'schema-rollback']).default('restore'),
      backup: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, '"latest" or a backup id (letters, digits, ".", "_" or "-", at most 64)')
        .optional()
        .describe('"latest" (the default) or the id of a backup the worker took'),
      source: z
        .strictObject({
          dump: z
            .string()
            .min(1)
            .max(1024)
            .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
            .describe("a dump the team already has: a path inside the runbook's databases.<name>.dumpsDir (relative to it, or absolute), or a file:// URL"),
          format: z.enum(['custom', 'directory', 'plain']).optional().describe('checked against what the file is; read from the file when left out'),
        })
        .optional()
        .describe("restore a team's own pg_dump (custom, directory or plain SQL) instead of a backup the worker took"),
      before: z.iso.datetime({ offset: true }).optional().describe('with "latest": the latest backup taken before this instant'),
      phases: z.array(z.int().min(1)).min(1).max(100).optional().describe('schema-rollback: phases whose down SQL runs, in this order'),
      jobs: z.int().min(1).max(16).default(2).describe('parallel jobs for pg_dump and pg_restore'),
    })
    .refine((input) => input.action !== 'schema-rollback' || input.phases !== undefined, {
      path: ['phases'],
      message: 'schema-rollback needs the phases to roll back, e.g. [5, 4]',
    })
    .refine((input) => input.source === undefined || (input.backup === undefined && input.before === undefined), {
      path: ['source'],
      message: 'give a source dump or a backup (with before), not both',
    }),
));
export type DataRestoreInput = z.input<typeof dataRestoreInput>;

export const databaseBackupInput = z.lazy(oncePerWorker('inputs.databaseBackupInput', () =>
  z.strictObject({
    ...databaseRefShape(),
    requestedBy: personName.default('schedule'),
    backupId: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40').optional(),
    jobs: z.int().min(1).max(16).default(2),
  }),
));

/** Shared by the rollbacks that verify health and score detection against the RTO targets. */
const verification = () => ({
  verifyWindowSeconds: z.number().min(0).max(3600).optional().describe("overrides the runbook's health window"),
  baselineSeconds: z.number().min(0).max(600).default(5).describe('health baseline measured before any change'),
  detectedAt: z.iso.datetime({ offset: true }).optional().describe('when the incident was detected, for the RTO scorecard'),
});

const phaseId = () => z.int().min(1).max(10_000);

export const phaseRollbackInput = z.lazy(oncePerWorker('inputs.phaseRollbackInput', () =>
  z.strictObject({
    ...commonInput(),
    phases: z
      .union([z.array(phaseId()).min(1).max(100), z.strictObject({ from: phaseId(), to: phaseId() })], {
        error: 'must be a list of phase ids like [5, 4, 3] or a range like {"from": 5, "to": 3}',
      })
      .describe('the phases to undo, highest first: a list, or a range of the runbook phases from one id to another'),
    ...verification(),
  }),
));
export type PhaseRollbackInput = z.input<typeof phaseRollbackInput>;

const name = () => z.string().min(1).max(200);
/** A secret is rolled back to a version: never given a value (it would stay in the workflow history). */
const secretTarget = () =>
  z.union([z.literal('previous'), z.int().min(1)], {
    error: 'must be "previous" or a version number; a secret\'s value never goes into a rollback input (it would stay in the workflow history)',
  });
const providerName = () => z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must name a provider under providers: in the runbook');

export const configRollbackInput = z.lazy(oncePerWorker('inputs.configRollbackInput', () =>
  z
    .strictObject({
      ...commonInput(),
      killSwitches: z.record(featureName, z.boolean()).optional().describe('feature: true engages its kill switch (feature off); flipped first, with no gate unless the runbook has before-kill-switch'),
      flags: z.record(featureName, z.boolean()).optional().describe('feature flags to set'),
      config: z.record(configKey, z.string().max(10_000).nullable()).optional().describe('config values to set; null unsets'),
      secrets: z.record(name(), secretTarget()).optional().describe('secret: "previous" or a version number'),
      scale: z
        .record(name(), z.int().min(0, 'must be 0 or more').max(1000, 'must be at most 1000'))
        .optional()
        .describe('target: instance count, e.g. {"app-canary": 0, "app-stable": 3}; undone by the counts found'),
      restart: z.array(name()).min(1).optional().describe('versions or services to restart afterwards, or ["all"]'),
      providers: z
        .strictObject({ flags: providerName().optional(), config: providerName().optional(), secrets: providerName().optional(), killSwitches: providerName().optional(), restarts: providerName().optional(), scaling: providerName().optional() })
        .optional()
        .describe('which runbook provider to use where the runbook has more than one of a kind'),
      ...verification(),
    })
    .refine((input) => [input.killSwitches, input.flags, input.config, input.secrets, input.scale].some((group) => group && Object.keys(group).length > 0) || input.restart !== undefined, {
      message: 'nothing to roll back: give at least one of killSwitches, flags, config, secrets, scale, restart',
    }),
));
export type ConfigRollbackInput = z.input<typeof configRollbackInput>;

export const keyspaceBackupInput = z.lazy(oncePerWorker('inputs.keyspaceBackupInput', () =>
  z.strictObject({
    system: systemName,
    keyspace: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "must name one of the runbook's keyspaces (e.g. \"sessions\")"),
    requestedBy: personName.default('schedule'),
    backupId: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40').optional(),
  }),
));

/**
 * rollbackWatchdog's input. `carried` is the watchdog's own state handed across continue-as-new
 * (rule streaks, recent evaluations, what it follows); nobody types it.
 */
export const watchdogInput = z.lazy(oncePerWorker('inputs.watchdogInput', () =>
  z.strictObject({
    system: systemName,
    startedBy: personName.default('rollback-watchdog'),
    maxHistoryEvents: z.int().min(200).max(40_000).default(1_000).describe('past this many events it continues as new, carrying its state (the history a watchdog brought back into the cache replays)'),
    reportEvery: z
      .int()
      .min(1)
      .max(1_000)
      .default(30)
      .describe('its watch loop reports to it after at most this many evaluations with nothing new, on a phase drawn from the watchdog\'s ID so that watchdogs started together report apart; at once when a rule is due to act or a verdict changes'),
    carried: z.record(z.string(), z.unknown()).optional(),
  }),
));
export type WatchdogInput = z.input<typeof watchdogInput>;

/** rollbackDrill's input, as a Schedule (or a person in the UI) starts it. */
export const drillInput = z.lazy(oncePerWorker('inputs.drillInput', () =>
  z.strictObject({
    system: systemName,
    drill: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "must name one of the runbook's drills (e.g. \"canary-errors\")"),
    requestedBy: personName.default('schedule'),
  }),
));
export type DrillInput = z.input<typeof drillInput>;
