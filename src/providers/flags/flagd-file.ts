/**
 * Feature flags in an OpenFeature flagd flag file, the CNCF format flagd and its file provider read:
 * `{"flags": {"<name>": {"state": "ENABLED" | "DISABLED", "variants": {...}, "defaultVariant": "on"}}}`.
 * A flag is on when its state is ENABLED and its default variant's value is true. Turning one off sets
 * its state to DISABLED (its variants stay, so turning it on again restores it exactly); the file is
 * written whole and atomically (a temporary file, fsync, rename), so a reader never sees half of it.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { ProviderDefinition } from '../types.ts';

const settingsSchema = z.strictObject({
  path: z.string().min(1).describe('the flag file, relative to where the worker runs'),
});
type Settings = z.infer<typeof settingsSchema>;

const flagSchema = z.looseObject({
  state: z.enum(['ENABLED', 'DISABLED']),
  variants: z.record(z.string(), z.unknown()),
  defaultVariant: z.string(),
});
const fileSchema = z.looseObject({ flags: z.record(z.string(), flagSchema) });
type FlagFile = z.infer<typeof fileSchema>;
type Flag = z.infer<typeof flagSchema>;

/** What an application reading the file gets for this flag. */
export function evaluate(flag: Flag): boolean {
  return flag.state === 'ENABLED' && flag.variants[flag.defaultVariant] === true;
}

/** The flag as it must be written to evaluate to `enabled`, changing as little as possible. */
function withValue(flag: Flag, enabled: boolean): Flag {
  if (!enabled) return { ...flag, state: 'DISABLED' };
  const on = { ...flag, state: 'ENABLED' as const };
  if (evaluate(on)) return on;
  const trueVariant = Object.entries(flag.variants).find(([, value]) => value === true)?.[0];
  if (!trueVariant) throw new Error('it has no variant whose value is true');
  return { ...on, defaultVariant: trueVariant };
}

async function readFlagFile(path: string): Promise<FlagFile> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `flag file ${path} does not exist` : `cannot read flag file ${path}: ${err.message}`);
  });
  const parsed = fileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`flag file ${path} is not a flagd flag file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${process.pid}.${Date.now()}.flagd.tmp`);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

export const flagdFile: ProviderDefinition<'flags', Settings> = {
  id: 'flagd-file',
  description: 'feature flags in an OpenFeature flagd flag file (state ENABLED/DISABLED), rewritten atomically',
  capabilities: ['flags'],
  settingsSchema,
  example: { path: 'flags/app.flagd.json' },
  create(settings) {
    const path = resolve(settings.path);
    // One writer at a time in this worker: read-modify-write of one file must not interleave.
    let queue: Promise<unknown> = Promise.resolve();
    const serially = <T>(work: () => Promise<T>): Promise<T> => {
      const next = queue.then(work, work);
      queue = next.catch(() => undefined);
      return next;
    };
    return {
      flags: {
        async readFlags() {
          const file = await readFlagFile(path);
          return Object.fromEntries(Object.entries(file.flags).map(([name, flag]) => [name, evaluate(flag)]));
        },
        setFlag: (name, enabled) =>
          serially(async () => {
            const file = await readFlagFile(path);
            const flag = file.flags[name];
            if (!flag) throw new Error(`unknown feature flag '${name}' in ${path}; it has: ${Object.keys(file.flags).join(', ')}`);
            if (evaluate(flag) === enabled) return; // already so: a retried call writes nothing
            let next: Flag;
            try {
              next = withValue(flag, enabled);
            } catch (err) {
              throw new Error(`cannot turn flag '${name}' on in ${path}: ${(err as Error).message}`);
            }
            await writeAtomically(path, `${JSON.stringify({ ...file, flags: { ...file.flags, [name]: next } }, null, 2)}\n`);
          }),
      },
    };
  },
};
