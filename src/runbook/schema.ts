/**
 * The runbook file: one YAML file per system, describing how to roll it back. This schema is pure
 * (zod only) so workflows, the worker and the CLI share it; `npm run schema` turns it into the JSON
 * Schema editors use (schemas/runbook.schema.json).
 */
import { z } from 'zod';
import { didYouMean, envVarName, gateNames, GATES, isKnownGate, systemName } from '../contract/index.ts';
import { ACTION_KINDS, ACTIONS, type Action } from '../actions/index.ts';
import { checkDrills, drillSchema } from './drill-schema.ts';
import { watchSchema } from './watch-schema.ts';
import { approvalsSchema } from './approvals-schema.ts';
import { healthSchema, phaseVerifyProblems, phaseVerifySchema } from './health-schema.ts';
import { preflightProblems, preflightSchema } from './preflight-schema.ts';

const identifier = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
const person = z.string().min(1);
const providerSettings = z.record(z.string(), z.unknown()).default({});
const seconds = z.number().min(0);

export const gateSchema = z.strictObject({
  role: identifier.describe('approvers role whose members may pass this gate'),
  required: z.int().min(1).default(1).describe('distinct approvals needed'),
  forbidRequester: z.boolean().default(false).describe('two-person rule: the requester cannot approve'),
  escalateAfterSeconds: seconds.optional().describe('send an escalation notification after this long'),
  timeoutSeconds: seconds.default(900),
  onTimeout: z.enum(['abort', 'approve']).default('abort'),
  signed: z.literal('required').optional().describe('approvals and rejections at this gate must be signed by a key listed under approvals.keys'),
});

export { healthSchema, thresholdsSchema } from './health-schema.ts';

export const databaseSchema = z.strictObject({
  urlEnv: envVarName.describe('environment variable holding the connection string'),
  backupDir: z.string().min(1),
  dumpsDir: z
    .string()
    .min(1)
    .optional()
    .describe("where the team's own dumps are kept (pg_dump custom, directory or plain SQL): a dataRestore with source.dump restores only a dump inside it"),
  smokeQueries: z
    .array(z.strictObject({ name: identifier, sql: z.string().min(1), expect: z.unknown().optional() }))
    .default([]),
  stopWriters: z
    .discriminatedUnion('method', [
      z.strictObject({ method: z.literal('scale-to-zero'), version: z.string() }),
      z.strictObject({ method: z.literal('maintenance-flag'), flag: z.string(), provider: identifier.optional().describe('a flags provider under providers:') }),
      z.strictObject({ method: z.literal('terminate-connections') }),
    ])
    .default({ method: 'terminate-connections' }),
});

export const keyspaceSchema = z.strictObject({
  provider: identifier.optional().describe('a keyspace provider under providers: (e.g. redis)'),
  pattern: z.string().min(1).describe('the keys it holds, as a SCAN pattern, e.g. session:*:agentic_state'),
  backupDir: z.string().min(1),
});

/** Any action of the registry's kinds (src/actions/), tried in the registry's order. */
const actionSchema = z.union(ACTION_KINDS.map((kind) => ACTIONS[kind].schema()) as unknown as [z.ZodType<Action>, ...z.ZodType<Action>[]]);

const argv = z.array(z.string().min(1)).min(1);

/** A SQLite database a sqlite-restore action restores (seed 001's memory.db on Railway). */
export const sqliteSchema = z.strictObject({
  path: z.string().min(1).describe('the database file the application uses, e.g. /app/data/memory.db'),
  backupDir: z.string().min(1).describe('where its backups are kept, e.g. /app/data/backups'),
  backupPattern: z.string().min(1).default('*.db').describe('the names of its backups, * standing for any characters (seed 001: memory_*.db); "latest" is the last by name'),
  writer: z
    .union([
      z.strictObject({
        provider: identifier.optional().describe('a provider of instance scaling under providers:'),
        scale: z.string().min(1).describe('the version or service scaled to 0 while the file is replaced, then back to the count found'),
      }),
      z.strictObject({
        provider: identifier.optional().describe('a commands provider under providers:'),
        stop: argv.describe('stops the writer, e.g. [railway, down]'),
        start: argv.describe('starts it again, e.g. [railway, up, --detach]'),
        timeoutSeconds: z.number().positive().max(3600).default(300),
      }),
    ])
    .optional()
    .describe('what writes to the file, stopped while it is replaced and started again after (seed 001: railway down, railway up); left out when nothing writes to it'),
  smokeQueries: z
    .array(z.strictObject({ name: identifier, sql: z.string().min(1), expect: z.unknown().optional() }))
    .default([])
    .describe("queries the backup must answer as expected (first row) before it replaces the file"),
});

/** A container volume a volume-restore action restores (seed 003's postgres_data, backed up with tar). */
export const volumeSchema = z.strictObject({
  provider: identifier.optional().describe('a provider of container volumes under providers: (docker-compose)'),
  volume: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a Docker volume name').describe('the named volume, e.g. ai_workflow_engine_postgres_data'),
  backupDir: z.string().min(1).describe('where its tar.gz backups are kept, e.g. ./backups'),
  backupPattern: z.string().min(1).default('*.tar.gz').describe('the names of its backups, * standing for any characters (seed 003: postgres_data_*.tar.gz); "latest" is the last by name'),
  services: z.array(z.string().min(1)).default([]).describe('the Compose services that write to it, stopped while it is restored and started after'),
});

export const phaseSchema = z.strictObject({
  id: z.int().min(1),
  name: z.string().min(1),
  description: z.string().optional(),
  rollback: z.array(actionSchema).min(1).describe('what undoing this phase does, in order'),
  verify: z
    .union([z.boolean(), phaseVerifySchema])
    .default(true)
    .describe("verify health after the phase (false: no health check; an object: its own window, checks besides the runbook's, stages instead of the runbook's)"),
});

export const providerRefSchema = z.strictObject({ provider: z.string(), settings: providerSettings });

export const runbookSchema = z
  .strictObject({
    system: systemName.describe('the name rollbacks use; matches the file name'),
    description: z.string().optional(),
    traffic: z
      .strictObject({
      provider: z.string(),
      settings: providerSettings,
      stable: z.string().default('stable'),
      canary: z.string().default('canary'),
      stableInstances: z.int().min(1).optional().describe('instances of stable after a full rollback (left out: stable is not scaled up; a provider that does not scale versions, like Cloud Run, ignores it)'),
      gradualSteps: z.array(z.int().min(0).max(100)).default([50, 0]).describe('canary weights, in order'),
      stepPauseSeconds: seconds.default(300),
    })
      .optional()
      .describe('how traffic moves between a stable and a canary version; leave out for a system without a router'),
    release: z
      .strictObject({
        provider: z.string(),
        settings: providerSettings,
        targets: z
          .array(
            z.union([
              z.string().min(1),
              z.strictObject({
                target: z.string().min(1),
                to: z.string().min(1).max(300).describe('"previous", or a deploy id, image, digest, revision or git tag as the provider names releases'),
              }),
            ]),
          )
          .min(1)
          .describe('what a full rollback rolls back, in this order (Compose services, Fly versions, Deployments, Railway or Render services): a name goes to its previous release, {target, to} to the release named'),
      })
      .optional()
      .describe('for a system without a traffic router: fullRollback rolls each target back to its previous release (the image or deploy before the current one)'),
    statusPage: providerRefSchema.optional().describe('a public status page: an incident opened when a rollback starts, updated as its state changes, resolved when it completes'),
    providers: z
      .record(identifier, providerRefSchema)
      .default({})
      .describe('providers by the name actions use: flags, config, secrets, kill switches, restarts, commands, keyspaces'),
    preflight: preflightSchema,
    health: healthSchema.default({ checks: [], thresholds: { errorRatePct: 10, p95Ms: 3000, successRatePct: 90 }, windowSeconds: 300, minRequests: 20, stages: [], stageIntervalSeconds: 15, stageWindowSeconds: 60 }),
    approvers: z.record(identifier, z.array(person).min(1)).describe('people by role: who may pass a gate of that role, decide after a failure, abort, and pause the watchdog'),
    approvals: approvalsSchema.default({ signed: 'optional', keys: {} }),
    // Keys are checked against the contract's gate names below, with a "did you mean" for a typo.
    gates: z
      .record(identifier, gateSchema)
      .default({})
      .describe(`approval gates by name; the workflows stop at: ${[...gateNames().keys()].join(', ')}`),
    decisions: z
      .strictObject({
        timeoutSeconds: seconds.default(1800),
        onTimeout: z.enum(['abort', 'compensate']).default('abort'),
      })
      .default({ timeoutSeconds: 1800, onTimeout: 'abort' })
      .describe('after a step fails: how long to wait for `decide`, and what happens if nobody decides'),
    notify: z
      .array(z.strictObject({ provider: z.string(), settings: providerSettings }))
      .default([{ provider: 'log', settings: {} }]),
    rto: z
      .strictObject({
        detectionMinutes: z.number().positive(),
        decisionMinutes: z.number().positive(),
        executionMinutes: z.number().positive(),
        verificationMinutes: z.number().positive(),
      })
      .describe('recovery-time targets per stage: incident reports and drill scorecards measure each stage against them'),
    databases: z.record(identifier, databaseSchema).default({}).describe('Postgres databases dataRestore restores (to a side database, verified, swapped by rename) and down-sql actions change'),
    keyspaces: z.record(identifier, keyspaceSchema).default({}).describe('Redis keyspaces whose backups a redis-restore action restores'),
    sqlite: z.record(identifier, sqliteSchema).default({}).describe('SQLite database files a sqlite-restore action restores from their backups'),
    volumes: z.record(identifier, volumeSchema).default({}).describe('container volumes a volume-restore action restores from their tar.gz backups'),
    phases: z.array(phaseSchema).default([]).describe('shipped phases, each with the actions that undo it; phaseRollback undoes them newest first'),
    drills: z.record(identifier, drillSchema).default({}).describe('rehearsals rollbackDrill runs on Temporal Schedules, scored against the rto targets'),
    watch: watchSchema.optional().describe("rollbackWatchdog's rules: what it measures each interval and what a breach does (seed 000's automatic triggers)"),
  })
  .superRefine((runbook, ctx) => {
    const roles = Object.keys(runbook.approvers);
    const phaseIds = runbook.phases.map((phase) => phase.id);
    const targets = releaseTargets(runbook);
    for (const name of Object.keys(runbook.gates)) {
      // A misspelt gate would load and then never be asked for: the approval would silently vanish.
      if (!isKnownGate(name, phaseIds, targets)) ctx.addIssue({ code: 'custom', path: ['gates', name], message: unknownGate(name, phaseIds, targets) });
    }
    const people = new Set(Object.values(runbook.approvers).flat());
    for (const person of Object.keys(runbook.approvals.keys)) {
      if (!people.has(person)) ctx.addIssue({ code: 'custom', path: ['approvals', 'keys', person], message: `${person} is not listed under approvers (${[...people].join(', ')})` });
    }
    for (const [name, gate] of Object.entries(runbook.gates)) {
      const members = runbook.approvers[gate.role];
      // A member with no key could never pass a gate that wants signatures: say so now, not at 3 a.m.
      const keyless = (members ?? []).filter((m) => !runbook.approvals.keys[m]);
      if ((gate.signed === 'required' || runbook.approvals.signed === 'required') && keyless.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['gates', name, 'signed'], message: `gate ${name} needs signed approvals but approvals.keys lists no key for ${keyless.join(', ')} (role ${gate.role})` });
      }
      if (!members) {
        ctx.addIssue({
          code: 'custom',
          path: ['gates', name, 'role'],
          message: `unknown role '${gate.role}'; must be one of: ${roles.join(', ')}`,
        });
      } else if (gate.required > members.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['gates', name, 'required'],
          message: `needs ${gate.required} approvals but role '${gate.role}' lists only ${members.length}`,
        });
      }
    }
    preflightProblems(runbook, ctx);
    const ids = runbook.phases.map((phase) => phase.id);
    ids.forEach((id, index) => {
      if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', path: ['phases', index, 'id'], message: `duplicate phase id ${id}` });
    });
    runbook.phases.forEach((phase, index) => {
      if (typeof phase.verify === 'object') phaseVerifyProblems(phase.verify, runbook.health, ctx, ['phases', index, 'verify']);
      phase.rollback.forEach((action, i) => {
        const path = ['phases', index, 'rollback', i];
        if ('down-sql' in action && !runbook.databases[action['down-sql'].database]) {
          const db = action['down-sql'].database;
          ctx.addIssue({ code: 'custom', path: [...path, 'down-sql', 'database'], message: `unknown database '${db}'; must be one of: ${Object.keys(runbook.databases).join(', ') || '(none declared)'}` });
        }
        if ('cloudsql-clone' in action && !runbook.databases[action['cloudsql-clone'].database]) {
          const db = action['cloudsql-clone'].database;
          ctx.addIssue({ code: 'custom', path: [...path, 'cloudsql-clone', 'database'], message: `unknown database '${db}' (the one that reaches the clone, for its smoke queries); must be one of: ${Object.keys(runbook.databases).join(', ') || '(none declared)'}` });
        }
        if ('cloudsql-clone' in action && !runbook.providers[action['cloudsql-clone'].pointService.provider]) {
          const name = action['cloudsql-clone'].pointService.provider;
          ctx.addIssue({ code: 'custom', path: [...path, 'cloudsql-clone', 'pointService', 'provider'], message: `unknown provider '${name}'; must be one of: ${Object.keys(runbook.providers).join(', ') || '(none declared)'}` });
        }
        if ('volume-restore' in action && !runbook.volumes[action['volume-restore']]) {
          const name = action['volume-restore'];
          ctx.addIssue({ code: 'custom', path: [...path, 'volume-restore'], message: `unknown volume '${name}'; must be one of: ${Object.keys(runbook.volumes).join(', ') || '(none declared under volumes:)'}` });
        }
        if ('sqlite-restore' in action && !runbook.sqlite[action['sqlite-restore']]) {
          const name = action['sqlite-restore'];
          ctx.addIssue({ code: 'custom', path: [...path, 'sqlite-restore'], message: `unknown SQLite database '${name}'; must be one of: ${Object.keys(runbook.sqlite).join(', ') || '(none declared under sqlite:)'}` });
        }
        if ('redis-restore' in action && !runbook.keyspaces[action['redis-restore']]) {
          const name = action['redis-restore'];
          ctx.addIssue({ code: 'custom', path: [...path, 'redis-restore'], message: `unknown keyspace '${name}'; must be one of: ${Object.keys(runbook.keyspaces).join(', ') || '(none declared under keyspaces:)'}` });
        }
      });
    });
    checkDrills(runbook, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    runbook.watch?.rules.forEach((rule, i) => {
      const path = ['watch', 'rules', i];
      // Rates and gauges come from the health section's metrics endpoint; without one, every evaluation would be inconclusive.
      if (!runbook.health.metrics) ctx.addIssue({ code: 'custom', path, message: `rule ${rule.name} needs metrics: add health.metrics (a prometheus endpoint)` });
      // A release section rolls back too (immediately: a release has no traffic to split); scaling needs traffic.
      const rollsBack = 'rollback' in rule.action && (runbook.traffic || (runbook.release && rule.action.rollback === 'immediate'));
      if ('rollback' in rule.action && !rollsBack) {
        const message = runbook.release ? `rule ${rule.name} rolls back gradually, which needs a traffic section (a release section rolls back immediate only)` : `rule ${rule.name} rolls back, which needs a traffic or release section`;
        ctx.addIssue({ code: 'custom', path: [...path, 'action'], message });
      }
      if ('scaleAndAlert' in rule.action && rule.action.scaleAndAlert.provider) {
        // A scaling provider of its own: the rollback at the deadline needs a traffic or (immediate) release section.
        const { thenRollback } = rule.action.scaleAndAlert;
        if (!runbook.traffic && !(runbook.release && thenRollback === 'immediate')) {
          ctx.addIssue({ code: 'custom', path: [...path, 'action', 'scaleAndAlert', 'thenRollback'], message: `rule ${rule.name} rolls back (${thenRollback}) at its deadline, which needs a traffic section${runbook.release ? ' (a release section rolls back immediate only)' : ' or a release section'}` });
        }
      } else if ('scaleAndAlert' in rule.action && !runbook.traffic) ctx.addIssue({ code: 'custom', path: [...path, 'action'], message: `rule ${rule.name} scales, which needs a traffic section or a scaling provider (scaleAndAlert.provider)` });
      else if ('scaleAndAlert' in rule.action && runbook.traffic) {
        const { version } = rule.action.scaleAndAlert;
        const versions = [runbook.traffic.stable, runbook.traffic.canary];
        if (!versions.includes(version)) ctx.addIssue({ code: 'custom', path: [...path, 'action', 'scaleAndAlert', 'version'], message: `unknown version '${version}'; must be one of: ${versions.join(', ')}` });
      }
    });
  });

/** The targets a runbook's release actions and release section roll: the names before-release-<target> may take. */
function releaseTargets(runbook: { phases: { rollback: unknown }[]; release?: { targets: readonly (string | { target: string })[] } }): string[] {
  const inPhases = runbook.phases.flatMap((phase) => (Array.isArray(phase.rollback) ? (phase.rollback as object[]) : []).flatMap((action) => ('release' in action ? [(action as { release: { target: string } }).release.target] : [])));
  const inSection = (runbook.release?.targets ?? []).map((t) => (typeof t === 'string' ? t : t.target));
  return [...new Set([...inPhases, ...inSection])];
}

/** "unknown gate 'before-swp' (did you mean 'before-swap'?); gates are: ..." */
function unknownGate(name: string, phaseIds: readonly number[], targets: readonly string[]): string {
  const phase = /^before-phase-(\d+)$/.exec(name);
  if (phase) return `gate ${name} names phase ${phase[1]}, which this runbook does not have (its phases: ${[...phaseIds].sort((a, b) => a - b).join(', ') || 'none'})`;
  const release = /^before-release-(.+)$/.exec(name);
  if (release && !gateNames().has(name)) return `gate ${name} names release target '${release[1]}', which no release action or release section of this runbook rolls${didYouMean(release[1]!, targets)} (its release targets: ${[...targets].sort().join(', ') || 'none'})`;
  const known = [...gateNames().keys()].map((gate) => (gate.includes('<id>') && phaseIds[0] !== undefined ? gate.replace('<id>', String(phaseIds[0])) : gate.includes('<target>') && targets[0] !== undefined ? gate.replace('<target>', targets[0]) : gate));
  const hint = didYouMean(name, known);
  const byWorkflow = Object.entries(GATES).map(([workflow, gates]) => `${Object.keys(gates).join(', ')} (${workflow})`);
  return `unknown gate '${name}'${hint}; gates are: ${byWorkflow.join('; ')}`;
}

export type Runbook = z.infer<typeof runbookSchema>;
export type Gate = z.infer<typeof gateSchema>;
export type Phase = z.infer<typeof phaseSchema>;
export type ProviderRef = z.infer<typeof providerRefSchema>;
export type Keyspace = z.infer<typeof keyspaceSchema>;
export type SqliteDatabase = z.infer<typeof sqliteSchema>;
export type RunbookVolume = z.infer<typeof volumeSchema>;
export type RunbookDatabase = z.infer<typeof databaseSchema>;
export type { CommandPreflightSpec, HttpPreflightSpec, PreflightCheckSpec, ReleasePreflightSpec, SqlPreflightSpec } from './preflight-schema.ts';
export type { CommandCheckSpec, Health, HealthCheckSpec, HttpCheckSpec, Limit, LogApiCheckSpec, LogCheckSpec, PhaseVerify, Stage, Thresholds } from './health-schema.ts';
