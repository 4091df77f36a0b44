/**
 * pino for the worker: pretty on a terminal, JSON lines otherwise, with secret-looking fields
 * redacted wherever they appear. The Temporal SDK's and core's logs are routed into it as well, so
 * operators read one stream.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino, { type Logger } from 'pino';

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

export function createLogger(options: { level: string; format: 'pretty' | 'json' | 'auto'; destination?: pino.DestinationStream }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base = { level: options.level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
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
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[levels[level]]({ ...meta }, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
