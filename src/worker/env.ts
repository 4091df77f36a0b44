/**
 * The worker's environment, parsed once at start-up. A bad environment fails with every problem
 * listed, not just the first. Connection variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) are read by
 * @temporalio/envconfig and only checked for shape here.
 */
import { z } from 'zod';
import { formatProblems, validate } from '../contract/index.ts';

const booleanString = z.enum(['true', 'false', '1', '0']);
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: (issue) => `must be a whole number, not ${JSON.stringify(issue.input)}` })
    .transform(Number)
    .pipe(z.int().min(min).max(max));

export const envSchema = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port, like localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: booleanString.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().optional(),
  TEMPORAL_PROFILE: z.string().optional(),
  TEMPORAL_CONFIG_FILE: z.string().optional(),
  TEMPORAL_UI_URL: z.url().optional().describe('the Temporal Web UI, so notifications link to the rollback (npm start sets it)'),
  RUNBOOKS_DIR: z.string().min(1).default('runbooks'),
  REPORTS_DIR: z.string().min(1).default('.data/reports').describe('where incident reports are written'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  LOG_FORMAT: z.enum(['pretty', 'json', 'auto']).default('auto'),
  WORKER_METRICS_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port, like 127.0.0.1:9464')
    .default('127.0.0.1:9464')
    .describe('where the worker serves Prometheus metrics; "off" disables'),
  ALERT_RECEIVER_ADDRESS: z
    .string()
    .regex(/^(off|[^\s]+:\d+)$/, 'must be host:port, like 127.0.0.1:9095, or "off"')
    .default('off')
    .describe("where the worker takes Alertmanager's webhook (src/triggers/alert-receiver.ts); off by default"),
  ALERT_RECEIVER_TOKEN_ENV: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
    .default('ALERT_RECEIVER_TOKEN')
    .describe('the variable holding the bearer token Alertmanager must send (required beyond loopback)'),
  WORKER_SHUTDOWN_GRACE_SECONDS: wholeNumber(0, 3600).default(30),
  WORKER_MAX_CONCURRENT_ACTIVITIES: wholeNumber(1, 10_000).default(50),
  WORKER_MAX_CACHED_WORKFLOWS: wholeNumber(0, 100_000)
    .default(100)
    .describe('workflows kept in memory between their steps; one evicted replays its history when it next moves (docs/benchmarks.md, "Where a watchdog\'s memory goes")'),
  WORKER_MAX_WATCHED_SYSTEMS: wholeNumber(1, 100_000)
    .default(2_000)
    .describe('watch loops (one per watched system) this worker runs at once, apart from WORKER_MAX_CONCURRENT_ACTIVITIES'),
  WORKER_DEPLOYMENT: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a deployment name like rollbacks, or "off"')
    .default('rollbacks')
    .describe('the Worker Deployment the worker joins, its build id the workflow bundle\'s hash; rollbacks are Pinned to the build that started them. "off": an unversioned worker'),
  WORKER_PROMOTE: z
    .enum(['auto', 'manual'])
    .default('auto')
    .describe('auto: the worker makes its build current once it polls; manual: `rollback workers promote <build>` does'),
});

export type WorkerEnv = z.infer<typeof envSchema>;

export class EnvError extends Error {
  override name = 'EnvError';
}

export function parseEnv(env: Record<string, string | undefined>): WorkerEnv {
  const input = { ...env };
  if (input.WORKER_METRICS_ADDRESS === 'off') delete input.WORKER_METRICS_ADDRESS;
  const result = validate(envSchema, input);
  if (!result.ok) throw new EnvError(`invalid worker environment:\n${formatProblems(result.problems, '  ')}`);
  return env.WORKER_METRICS_ADDRESS === 'off' ? { ...result.data, WORKER_METRICS_ADDRESS: 'off' } : result.data;
}
