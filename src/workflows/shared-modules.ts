/**
 * Modules every workflow in a worker shares instead of evaluating its own copy: the bundle's
 * `preloadModules` (src/build/workflow-bundle.ts). In the SDK's reusable V8 context each workflow
 * otherwise evaluates every module it imports once more, and zod alone is some 200 classes and their
 * objects: about 0.7 MB for each rollback the worker holds open (`npm run bench:capacity`).
 *
 * What goes here must hold no state of its own workflow and must not write to its module-level
 * objects after loading: the SDK freezes every shared module once this file has run. Zod writes two
 * such things lazily, on the first schema made (its default locale and memoizer, in its global
 * config) and the first object parsed (whether eval is allowed): both happen below, before the
 * freeze. Zod's own module-level patterns are frozen too, so the string formats built on them
 * (`z.email()`, `z.url()`, ...) must not be used in workflow code; `z.iso.datetime()` and
 * `.regex()` with a pattern of ours are fine. Every workflow test runs with this preload.
 *
 * Also shared: the cache of the schemas workflows parse with (src/contract/schema-cache.ts), so a
 * worker makes each input's and payload's schema once, not once per open workflow.
 */
import { z } from 'zod';
import { oncePerWorker } from '../contract/schema-cache.ts';

const warmUp = z.strictObject({ name: z.string().regex(/^[a-z]+$/), at: z.iso.datetime({ offset: true }).optional(), kind: z.enum(['a']) });
warmUp.safeParse({ name: 'a', kind: 'a' });
warmUp.safeParse({ name: 'A', kind: 'b', extra: 1 });

export { oncePerWorker, z };
