/**
 * What `npm run bench:source-maps` builds and loads in its child processes: the worker's code
 * (src/worker/worker.ts: activities, providers, the SDK; importing it starts nothing) and a way to
 * throw from deep inside it.
 */
import { parseEnv } from '../../src/worker/env.ts';

export * from '../../src/worker/worker.ts';
export { mapStackTracesOf } from '../../src/worker/stack-traces.ts';

/**
 * Calls itself `depth` times, then has the worker's environment parser refuse a setting: an error
 * thrown by our code under a stack of bundled frames, as an activity's would be.
 */
export function refuseDeep(depth: number): never {
  if (depth > 0) return refuseDeep(depth - 1);
  parseEnv({ LOG_LEVEL: 'loud' });
  throw new Error('parseEnv accepted LOG_LEVEL=loud');
}
