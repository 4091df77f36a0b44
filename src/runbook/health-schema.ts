/**
 * How a runbook says health is verified after a change, in `health:` and in a phase's `verify:`:
 * checks (an HTTP request and what its answer must be, a command and its exit code and output, the
 * lines of a log command or a log API's window matching a pattern), thresholds on the metrics over a window, absolute or
 * relative to the baseline measured before the first change, and stages, each with the time by which
 * it must hold (seed 000: "error rate < 1% within 5 minutes, p95 back to baseline within 10, success
 * > 99% within 15"). Pure (zod only); the judging is in src/plan/health.ts.
 */
import { z } from 'zod';
import { configKey, envVarName } from '../contract/index.ts';
import { placeholdersIn } from '../actions/templates.ts';
import { providerField } from '../actions/provider-field.ts';
import { JSON_OPERATORS, parseJsonPath } from '../contract/json-expect.ts';

const identifier = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
const seconds = z.number().min(0);

/** A pattern that would only fail when the check runs is refused when the runbook loads instead. */
const regExp = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((pattern, ctx) => {
      try {
        new RegExp(pattern);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
      }
    })
    .describe(what);

/** Placeholders a command or log check's argv may use, filled with the window the measurement covers. */
export const CHECK_PLACEHOLDERS = ['since', 'sinceSeconds'] as const;

const checkArgv = (what: string) =>
  z
    .array(z.string().min(1))
    .min(1)
    .superRefine((argv, ctx) => {
      argv.forEach((arg, i) => {
        for (const name of placeholdersIn(arg)) {
          if (!(CHECK_PLACEHOLDERS as readonly string[]).includes(name)) ctx.addIssue({ code: 'custom', path: [i], message: `unknown placeholder {{${name}}}; a check may use {{since}} and {{sinceSeconds}}` });
        }
      });
    })
    .describe(what);

export const jsonExpectationSchema = z
  .strictObject({
    path: z.string().min(1).describe('where the value is: $.status, $.checks.database, $.items[0].id, or checks.database'),
    equals: z.unknown().optional().describe('the value must be exactly this (a string, number, boolean, null, or JSON)'),
    in: z.array(z.unknown()).min(1).optional().describe('the value must be one of these'),
    matches: regExp('the value must be a string matching this regular expression').optional(),
    above: z.number().optional().describe('the value must be a number above this'),
    below: z.number().optional().describe('the value must be a number below this (with above: a range)'),
  })
  .superRefine((expectation, ctx) => {
    const parsed = parseJsonPath(expectation.path);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', path: ['path'], message: parsed.problem });
    const given = JSON_OPERATORS.filter((op) => op in expectation && (op === 'equals' || expectation[op] !== undefined));
    const exclusive = given.filter((op) => op !== 'above' && op !== 'below');
    if (given.length === 0) ctx.addIssue({ code: 'custom', message: 'needs one of: equals, in, matches, above, below' });
    else if (exclusive.length > 1 || (exclusive.length === 1 && given.length > 1)) ctx.addIssue({ code: 'custom', message: `give one of ${given.join(', ')} (only above and below go together, as a range)` });
  });

/** A header whose value is a credential: never written in the runbook, taken from the worker's environment. */
const secretHeader = z.union([
  envVarName.describe('the environment variable holding the whole header value'),
  z.strictObject({
    env: envVarName.describe('the environment variable holding the credential'),
    prefix: z.string().max(40).default('').describe('written before it, e.g. "Bearer "'),
  }),
]);

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name');

/** Headers that carry credentials: their values belong under headersFromEnv. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token|x-access-token|private-token)$/i;

export const httpCheckSchema = z
  .strictObject({
    name: identifier,
    url: z.url(),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
    headers: z.record(headerName, z.string().max(4096)).default({}).describe('plain headers; a credential goes under headersFromEnv'),
    headersFromEnv: z.record(headerName, secretHeader).default({}).describe("headers whose value is a secret, named by environment variable (Authorization: {env: STATUS_API_KEY, prefix: 'Bearer '}); the value is in no history, log or message"),
    body: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
      .optional()
      .describe('sent as JSON (Content-Type application/json) when an object or list, as text when a string'),
    expectStatus: z.int().min(100).max(599).default(200),
    json: z.union([jsonExpectationSchema, z.array(jsonExpectationSchema).min(1)]).optional().describe('what the JSON answer must hold, one expectation or a list'),
    timeoutSeconds: z.number().positive().max(300).optional().describe('how long to wait for the whole answer (default 2)'),
    timeoutMs: z.int().positive().optional().describe('the same in milliseconds (the earlier field)'),
  })
  .superRefine((check, ctx) => {
    if (check.body !== undefined && (check.method === 'GET' || check.method === 'HEAD')) ctx.addIssue({ code: 'custom', path: ['body'], message: `a ${check.method} request has no body; use method POST (or PUT, PATCH)` });
    if (check.timeoutSeconds !== undefined && check.timeoutMs !== undefined) ctx.addIssue({ code: 'custom', path: ['timeoutMs'], message: 'give timeoutSeconds or timeoutMs, not both' });
    for (const name of Object.keys(check.headers)) {
      if (CREDENTIAL_HEADER.test(name)) ctx.addIssue({ code: 'custom', path: ['headers', name], message: `carries a credential; name the environment variable holding it under headersFromEnv (${name}: SOME_VARIABLE)` });
      if (name.toLowerCase() in lowerKeys(check.headersFromEnv)) ctx.addIssue({ code: 'custom', path: ['headers', name], message: 'is also under headersFromEnv; give it once' });
    }
  });

const lowerKeys = (record: Record<string, unknown>) => Object.fromEntries(Object.keys(record).map((k) => [k.toLowerCase(), true]));

const commandFields = {
  env: z.record(configKey, envVarName).default({}).describe('variables for the command, each taken from the worker environment variable named; masked in its output'),
  provider: providerField(),
  timeoutSeconds: z.number().positive().max(300).default(30),
};

export const commandCheckSchema = z.strictObject({
  name: identifier,
  command: checkArgv('argument vector, never a shell string, e.g. [docker, compose, exec, -T, api, python, -c, "..."]; may hold {{since}} and {{sinceSeconds}}'),
  ...commandFields,
  expectExit: z.int().min(0).max(255).default(0).describe('the exit code it must end with'),
  outputMatches: regExp('a regular expression its output (a line of it, or stdout as a whole) must match').optional(),
});

export const logCheckSchema = z.strictObject({
  name: identifier,
  logs: checkArgv(
    'a command printing log lines, e.g. [railway, logs], [docker, compose, logs, --since, "{{since}}", api] or [gcloud, logging, read, "severity>=ERROR", "--freshness={{sinceSeconds}}s"]; {{since}} is the start of the window measured (RFC 3339), {{sinceSeconds}} its length',
  ),
  ...commandFields,
  pattern: regExp('the lines counted: those of its stdout matching this regular expression (seed 001: ERROR)'),
  ignoreCase: z.boolean().default(false),
  atMost: z.int().min(0).default(0).describe('fail when more lines than this match'),
});

/**
 * The same count read from a platform's log API instead of a command's output: the provider (under
 * providers:, one offering log lines: cloud-logging, fly-logs) reads the entries of the window
 * measured, and what the check adds to its settings narrows them (which fields a provider takes is
 * checked when the runbook loads, src/runbook/provider-check.ts).
 */
export const logApiCheckSchema = z.strictObject({
  name: identifier,
  logsFrom: z
    .strictObject({
      provider: providerField().describe('a provider of log lines under providers: (cloud-logging, fly-logs); may be left out when there is only one'),
      filter: z.string().min(1).optional().describe('cloud-logging: a filter in the Logging query language, added to the provider\'s, e.g. severity>=ERROR'),
      instance: z.string().min(1).optional().describe('fly-logs: only the lines of this Machine (fly logs -i)'),
      region: z.string().regex(/^[a-z]{3}$/, 'must be a Fly region code like ams or ord').optional().describe('fly-logs: only the lines of Machines in this region (fly logs -r)'),
    })
    .describe('the log API to read the window from, and what narrows it'),
  pattern: regExp('from a log API: each entry is the line "<severity> <text>", e.g. "ERROR db timeout"; left out, every entry counts').optional(),
  ignoreCase: z.boolean().default(false),
  atMost: z.int().min(0).default(0).describe('fail when more lines than this match'),
  timeoutSeconds: z.number().positive().max(300).default(60).describe('from a log API: the whole read, every page (default 60)'),
});

export type HttpCheckSpec = z.output<typeof httpCheckSchema>;
export type CommandCheckSpec = z.output<typeof commandCheckSchema>;
export type LogCheckSpec = z.output<typeof logCheckSchema>;
export type LogApiCheckSpec = z.output<typeof logApiCheckSchema>;
export type HealthCheckSpec = HttpCheckSpec | CommandCheckSpec | LogCheckSpec | LogApiCheckSpec;

/**
 * The error of a union of forms each told apart by one key (a check's url, command, logs...): an entry
 * matching none is said in the words of the form its keys choose, or `missing` when they choose none.
 */
export function formProblem(forms: readonly (readonly [key: string, schema: z.ZodType])[], missing: string) {
  return (issue: { input: unknown }): string => {
    const input = issue.input;
    const form = input && typeof input === 'object' ? forms.find(([key]) => key in input) : undefined;
    if (!form) return missing;
    const result = form[1].safeParse(input);
    if (result.success) return 'matches none of the allowed forms';
    return result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
  };
}

const checkProblem = formProblem(
  [
    ['url', httpCheckSchema],
    ['command', commandCheckSchema],
    ['logs', logCheckSchema],
    ['logsFrom', logApiCheckSchema],
  ],
  'a check needs url (an HTTP request), command (a command to run), logs (a command whose lines are counted) or logsFrom (a log API whose lines are counted)',
);

export const healthCheckSchema = z.union([httpCheckSchema, commandCheckSchema, logCheckSchema, logApiCheckSchema], { error: checkProblem });

/** A limit on a metric: a number in its unit, or a multiple of what the baseline measured before the first change. */
const relativeLimit = z.strictObject({
  timesBaseline: z.number().positive().describe('this many times the baseline, e.g. 1.5: at most 50% worse than before the first change'),
});

/** Said as for a plain number ("expected number, received string"), or in the relative form's words. */
function limitProblem(input: unknown, absolute: z.ZodNumber): string {
  if (typeof input === 'number') return absolute.safeParse(input).error?.issues[0]?.message ?? 'matches none of the allowed forms';
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return `expected number, received ${input === null ? 'null' : Array.isArray(input) ? 'array' : typeof input}`;
  const result = relativeLimit.safeParse(input);
  return result.success ? 'matches none of the allowed forms' : `a relative limit is {timesBaseline: n}: ${result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}`;
}

const limit = (absolute: z.ZodNumber, what: string) => z.union([absolute, relativeLimit], { error: (issue) => limitProblem(issue.input, absolute) }).describe(what);

const errorRate = () => limit(z.number().min(0).max(100), 'the error rate, in percent, at most this (or {timesBaseline: n})');
const p95 = () => limit(z.number().positive(), 'p95 latency, in ms, at most this (or {timesBaseline: n}: seed 001\'s "more than 50% worse than baseline" is 1.5)');
const successRate = () => limit(z.number().min(0).max(100), 'the success rate, in percent, at least this (or {timesBaseline: n})');

// Defaults are seed 000's rollback triggers: error rate > 10%, P95 > 3000 ms, success rate < 90%.
export const thresholdsSchema = z.strictObject({
  errorRatePct: errorRate().default(10).describe('fail when the error rate is above this (percent, or {timesBaseline: n})'),
  p95Ms: p95().default(3000).describe('fail when p95 latency is above this (ms, or {timesBaseline: n})'),
  successRatePct: successRate().default(90).describe('fail when the success rate is below this (percent, or {timesBaseline: n})'),
});

export const stageSchema = z
  .strictObject({
    name: identifier,
    withinSeconds: z.number().positive().max(86_400).describe('by when, counted from the end of the change, this stage must hold'),
    errorRatePct: errorRate().optional(),
    p95Ms: p95().optional(),
    successRatePct: successRate().optional(),
    checks: z.array(identifier).default([]).describe('checks (by name) that must pass in the same measurement'),
  })
  .refine((stage) => stage.errorRatePct !== undefined || stage.p95Ms !== undefined || stage.successRatePct !== undefined || stage.checks.length > 0, {
    message: 'a stage needs a limit (errorRatePct, p95Ms, successRatePct) or checks',
  });

export type Limit = z.output<ReturnType<typeof errorRate>>;
export type Thresholds = z.output<typeof thresholdsSchema>;
export type Stage = z.output<typeof stageSchema>;

/** Each stage limits metrics only where metrics are measured, names known checks, and is named once. */
function stageProblems(stages: readonly Stage[], checkNames: readonly string[], metrics: boolean, ctx: z.RefinementCtx, path: (string | number)[]): void {
  stages.forEach((stage, i) => {
    if (stages.findIndex((s) => s.name === stage.name) !== i) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate stage name ${stage.name}` });
    const limited = (['errorRatePct', 'p95Ms', 'successRatePct'] as const).filter((m) => stage[m] !== undefined);
    if (limited.length > 0 && !metrics) ctx.addIssue({ code: 'custom', path: [...path, i], message: `stage ${stage.name} limits ${limited.join(', ')}, which needs health.metrics (a prometheus endpoint)` });
    stage.checks.forEach((name, j) => {
      if (!checkNames.includes(name)) ctx.addIssue({ code: 'custom', path: [...path, i, 'checks', j], message: `unknown check '${name}'; checks here: ${checkNames.join(', ') || 'none'}` });
    });
  });
}

function duplicateChecks(checks: readonly { name: string }[], taken: readonly string[], ctx: z.RefinementCtx, path: (string | number)[]): void {
  checks.forEach((check, i) => {
    if (taken.includes(check.name) || checks.findIndex((c) => c.name === check.name) !== i) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate check name ${check.name}` });
  });
}

const stagesField = () => z.array(stageSchema).default([]).describe("stages, each with the time by which it must hold; verification measures until every stage holds and fails at the first one missed at its time (seed 000: error rate 1 within 300 s, p95Ms {timesBaseline: 1} within 600 s, successRatePct 99 within 900 s)");

export const healthSchema = z
  .strictObject({
    checks: z.array(healthCheckSchema).default([]).describe('HTTP requests, commands and log counts (from a command or a log API) that must pass'),
    metrics: z
      .strictObject({
        provider: z.string().default('prometheus'),
        settings: z.record(z.string(), z.unknown()).default({}),
      })
      .optional(),
    thresholds: thresholdsSchema.default({ errorRatePct: 10, p95Ms: 3000, successRatePct: 90 }),
    windowSeconds: seconds.default(300).describe('how long to watch metrics after a change'),
    minRequests: z.int().min(1).default(20).describe('fewer requests than this in the window cannot verify health'),
    stages: stagesField(),
    stageIntervalSeconds: z.number().positive().max(600).default(15).describe('with stages: how often they are measured'),
    stageWindowSeconds: z.number().positive().max(3600).default(60).describe('with stages: each measurement covers the last this many seconds'),
  })
  .superRefine((health, ctx) => {
    duplicateChecks(health.checks, [], ctx, ['checks']);
    stageProblems(health.stages, health.checks.map((c) => c.name), health.metrics !== undefined, ctx, ['stages']);
  });

/** A phase's own verification: its window, checks added to the runbook's, stages instead of the runbook's. */
export const phaseVerifySchema = z.strictObject({
  windowSeconds: seconds.optional().describe("instead of the runbook's health window"),
  checks: z.array(healthCheckSchema).default([]).describe("checks of this phase, run besides the runbook's health checks (seed 000 phase 2: POST /test/chat)"),
  stages: z.array(stageSchema).optional().describe("instead of the runbook's stages"),
});

/** Problems of a phase's verify against the runbook's health section (names, stages' checks, metrics). */
export function phaseVerifyProblems(verify: z.output<typeof phaseVerifySchema>, health: z.output<typeof healthSchema>, ctx: z.RefinementCtx, path: (string | number)[]): void {
  const runbookChecks = health.checks.map((c) => c.name);
  duplicateChecks(verify.checks, runbookChecks, ctx, [...path, 'checks']);
  stageProblems(verify.stages ?? [], [...runbookChecks, ...verify.checks.map((c) => c.name)], health.metrics !== undefined, ctx, [...path, 'stages']);
}

export type Health = z.output<typeof healthSchema>;
export type PhaseVerify = z.output<typeof phaseVerifySchema>;
