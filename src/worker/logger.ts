/**
 * pino for the worker: pretty on a terminal, JSON lines otherwise, with secret-looking fields
 * redacted wherever they appear. The Temporal SDK's and core's logs are routed into it as well, so
 * operators read one stream.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino, { type Logger } from 'pino';
import { redactCredentials, WATCH_TASK_QUEUE } from '../contract/index.ts';

export const REDACTED_PATHS = [
  'password',
  'token',
  'apiKey',
  'authorization',
  'connectionString',
  'databaseUrl',
  'webhookUrl',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.authorization',
  '*.connectionString',
  '*.databaseUrl',
  '*.webhookUrl',
  'headers.authorization',
  '*.headers.authorization',
];

/**
 * What a log line may carry, made safe and readable: every Error (at any depth, under any key; the
 * SDK logs failures as `{ error }`) becomes `{ type, message, stack, cause }` instead of pino's `{}`,
 * and every string has URL passwords and secret query values replaced by `***`.
 */
export function loggable(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactCredentials(value);
  if (value instanceof Error) return loggable(pino.stdSerializers.errWithCause(value), depth);
  if (depth >= 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => loggable(item, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value; // Dates, Buffers and the like: pino knows them
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, loggable(item, depth + 1)]));
}

export function createLogger(options: { level: string; format: 'pretty' | 'json' | 'auto'; destination?: pino.DestinationStream }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base: pino.LoggerOptions = {
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg) => loggable(arg)) as Parameters<typeof method>);
      },
    },
  };
  if (options.destination) return pino(base, options.destination);
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } });
  return pino(base);
}

const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Adapts pino to the SDK's Logger interface (used by Runtime.install). */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[levels[expected(message, meta) ? 'DEBUG' : level]]({ ...meta }, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * The SDK's warnings that say what this worker does on purpose, logged at debug instead: the watch
 * worker polls `rollbacks-watch` for activities only (the watch loops), so every start would warn
 * that it has no workflows.
 */
function expected(message: string, meta?: LogMetadata): boolean {
  return message === 'No workflows registered, not polling for workflow tasks' && meta?.taskQueue === WATCH_TASK_QUEUE;
}
