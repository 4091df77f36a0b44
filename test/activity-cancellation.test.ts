/**
 * Waiting inside an activity (src/activities/heartbeat.ts): a wait ends on time or at the activity's
 * cancellation with the SDK's CancelledFailure, and leaves nothing on the activity once it is over.
 * A watch loop waits every interval for a day, so whatever a wait leaves behind adds up (the SDK's
 * own `context.sleep` leaves a reaction and its timer per call until the activity ends). Run in the
 * SDK's MockActivityEnvironment: these are the helpers themselves, with no worker or server.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { sleepUntilCancelled, untilCancelled } from '../src/activities/heartbeat.ts';

const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const abortListeners = () => getEventListeners(Context.current().cancellationSignal, 'abort').length;

describe('waiting in an activity', () => {
  test('200 sleeps and 200 waits leave no listener on the cancellation signal; each wait returns its work\'s value or error', async () => {
    const counts = await activityEnv().run(async () => {
      const before = abortListeners();
      for (let i = 0; i < 200; i += 1) await sleepUntilCancelled(0);
      let values = 0;
      for (let i = 0; i < 100; i += 1) values += await untilCancelled(Promise.resolve(1));
      const errors = new Set<string>();
      for (let i = 0; i < 100; i += 1) errors.add(await untilCancelled(Promise.reject(new Error('provider answered 503'))).catch((err: Error) => err.message));
      return { before, after: abortListeners(), values, errors };
    });
    assert.deepEqual(counts, { before: 0, after: 0, values: 100, errors: new Set(['provider answered 503']) });
  });

  test('a sleep lasts its time', async () => {
    const slept = await activityEnv().run(async (): Promise<number> => {
      const start = performance.now();
      await sleepUntilCancelled(150);
      return performance.now() - start;
    });
    assert.ok(slept >= 145, `slept ${slept} ms`);
  });

  test('cancelled mid-sleep or mid-wait: the CancelledFailure, at once, and the work is not waited for', async () => {
    for (const wait of [() => sleepUntilCancelled(60_000), () => untilCancelled(new Promise<never>(() => undefined))]) {
      const env = activityEnv();
      const start = performance.now();
      const run = env.run(wait);
      setTimeout(() => env.cancel('CANCELLED'), 50);
      await assert.rejects(run, (err: unknown) => err instanceof CancelledFailure && err.message === 'CANCELLED');
      assert.ok(performance.now() - start < 5_000);
    }
  });

  test('already cancelled: a new wait ends at once with the CancelledFailure', async () => {
    const env = activityEnv();
    env.cancel('CANCELLED');
    await assert.rejects(env.run(() => sleepUntilCancelled(60_000)), CancelledFailure);
    const env2 = activityEnv();
    env2.cancel('CANCELLED');
    await assert.rejects(env2.run(() => untilCancelled(Promise.resolve(1))), CancelledFailure);
  });
});
