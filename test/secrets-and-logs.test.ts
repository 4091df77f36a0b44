/**
 * Secrets never reach a terminal or a log: URL passwords and credential query values are redacted
 * wherever we print or log, and errors are logged with their message and stack (not pino's `{}`).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { redactCredentials, secretQueryParams, TASK_QUEUE, WATCH_TASK_QUEUE } from '../src/contract/index.ts';
import { createLogger, temporalLogger } from '../src/worker/logger.ts';

/** A pino logger writing JSON lines into an array. */
function capturingLogger() {
  const lines: Record<string, any>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', format: 'json', destination }), lines };
}

describe('credentials in URLs', () => {
  test('a URL password and secret query values become ***; the user, host and other parameters stay', () => {
    assert.equal(redactCredentials('database postgres://postgres:s3cret@127.0.0.1:5432/sandbox'), 'database postgres://postgres:***@127.0.0.1:5432/sandbox');
    assert.equal(redactCredentials('https://hooks.example.test/x?channel=ops&token=abc&api_key=k1'), 'https://hooks.example.test/x?channel=ops&token=***&api_key=***');
    assert.equal(redactCredentials('postgres://postgres@127.0.0.1/db?sslmode=require'), 'postgres://postgres@127.0.0.1/db?sslmode=require', 'nothing secret: unchanged');
    assert.deepEqual(secretQueryParams('https://x.test/?a=1&Access_Token=z&sig=&key=q'), ['Access_Token', 'key']);
  });

  test('the worker logger redacts credentials in messages and fields, at any depth', async () => {
    const { logger, lines } = capturingLogger();
    logger.info({ target: { url: 'postgres://app:hunter2@db:5432/x' } }, 'connecting to postgres://app:hunter2@db:5432/x');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines[0]!.msg, 'connecting to postgres://app:***@db:5432/x');
    assert.equal(lines[0]!.target.url, 'postgres://app:***@db:5432/x');
    assert.doesNotMatch(JSON.stringify(lines), /hunter2/);
  });
});

describe('errors in logs', () => {
  test('an error logged by the Temporal SDK (meta { error }) keeps its type, message, stack and cause', async () => {
    const { logger, lines } = capturingLogger();
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    temporalLogger(logger).warn('Failed to activate workflow', { error: new TypeError('Workflow type phaseRollback not registered', { cause }) });
    await new Promise((resolve) => setImmediate(resolve));
    const { error } = lines[0]!;
    assert.equal(error.type, 'TypeError');
    assert.equal(error.message, 'Workflow type phaseRollback not registered');
    assert.match(error.stack, /^TypeError: Workflow type phaseRollback not registered\n {4}at /);
    assert.equal(error.cause.message, 'connect ECONNREFUSED 127.0.0.1:5432');
  });

  test('the watch worker having no workflows is not a warning (it polls rollbacks-watch for activities on purpose); the same on another queue still is', async () => {
    const { logger, lines } = capturingLogger();
    const sdk = temporalLogger(logger);
    sdk.warn('No workflows registered, not polling for workflow tasks', { taskQueue: WATCH_TASK_QUEUE });
    sdk.warn('No workflows registered, not polling for workflow tasks', { taskQueue: TASK_QUEUE });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(lines.map((l) => [l.level, l.taskQueue]), [[40, TASK_QUEUE]], 'the info-level logger drops the debug line; the other queue warns');
  });
});
