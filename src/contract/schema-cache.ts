/**
 * The schemas workflows parse with (their inputs, the signals' payloads), made once per worker
 * instead of once per open workflow.
 *
 * In the SDK's reusable V8 context every workflow evaluates our modules for itself, so a schema made
 * by `z.lazy` in a contract module was made again by every workflow that parsed with it: some 130 zod
 * objects and their closures for each rollback held open (`npm run bench:capacity`). This module is
 * one of the workflow bundle's shared modules (src/workflows/shared-modules.ts), so the map below is
 * the same for every workflow of the worker: the first to parse makes the schema, the others use it.
 *
 * That is safe because a schema is a pure function of its definition: parsing keeps no state between
 * calls and never awaits, and what the definitions close over (patterns, limits) never changes. The
 * SDK freezes what shared modules export, but not this map nor the schemas in it: zod keeps writing
 * its lazy members onto a schema as it is used, which a frozen one would refuse. Outside workflows
 * (the CLI, activities) this is simply a module-level cache.
 */

const made = new Map<string, unknown>();

/** `make`, run the first time the returned function is called in this worker, under `name` (unique). */
export function oncePerWorker<T>(name: string, make: () => T): () => T {
  return () => {
    if (!made.has(name)) made.set(name, make());
    return made.get(name) as T;
  };
}
