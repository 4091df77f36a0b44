/**
 * The OpenFeature flagd flag file (https://flagd.dev/reference/flag-definitions/) the sandbox's
 * replicas read on each GET /api/flags. Made at start when missing, with seed 000's five phase flags
 * ENABLED and on and seed 004's entity flags as after its cutover; an existing file is left as it is
 * (a rollback may have edited it).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The five phase flags of SANDBOX_FLAGS (sandbox/database.ts), one per phase of seed 000. */
export const PHASE_FLAGS = ['hmac_verification', 'langgraph_enabled', 'dual_lane_routing', 'rag_memory_enabled', 'grok_integration'] as const;

export interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, unknown>;
  defaultVariant: string;
}

/**
 * Seed 004's entity migration, as it stands after the cutover (stage 11): the delta entity system on
 * (stage 10 validates it behind `delta_entities`) and the legacy code paths off.
 */
export const ENTITY_FLAGS: Readonly<Record<string, boolean>> = { delta_entities: true, legacy_entity_paths: false };

/** Creates the file unless it exists; true when it was created. Safe against a concurrent start: 'wx' creates or fails. */
export async function ensureFlagdFile(path: string): Promise<boolean> {
  const flags: Record<string, FlagdFlag> = Object.fromEntries([
    ...PHASE_FLAGS.map((name): [string, FlagdFlag] => [name, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' }]),
    ...Object.entries(ENTITY_FLAGS).map(([name, on]): [string, FlagdFlag] => [name, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: on ? 'on' : 'off' }]),
  ]);
  await mkdir(dirname(path), { recursive: true });
  const text = `${JSON.stringify({ $schema: 'https://flagd.dev/schema/v0/flags.json', flags }, null, 2)}\n`;
  try {
    await writeFile(path, text, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw err;
  }
}
