/**
 * `secret-version: <NAME>`, `to: previous | <n>`: the version services load made `to` (later versions
 * DISABLED, it ENABLED), as seed 002's `gcloud secrets versions enable --version=PREV`. Never a value:
 * only version numbers and states pass through a rollback. Undone by the states found.
 */
import { z } from 'zod';
import type { CapturedValue } from '../contract/index.ts';
import { findValue, lazily, providerChange, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';
import type { SecretVersions, VersionState } from '../providers/types.ts';

const schema = lazily(() =>
  z.strictObject({
    'secret-version': z.string().min(1).describe('secret name'),
    to: z.union([z.literal('previous'), z.int().min(1)]).default('previous').describe('"previous" (the version before the current one) or a version number'),
    provider: providerField(),
  }),
);
export type SecretVersionAction = z.output<ReturnType<typeof schema>>;

type VersionStates = Record<number, VersionState>;

export interface SecretVersionChange {
  provider: string;
  secret: string;
  states: VersionStates;
}

export interface SecretVersionActivities {
  setSecretVersions(input: ProviderChange & { secret: string; states: VersionStates }): Promise<SecretVersions>;
}

/**
 * The version states that make `to` the version services load: "previous" is the newest version
 * before the current one. Returns the states to set, or why it cannot be done.
 */
export function secretVersionTarget(secret: Extract<CapturedValue, { kind: 'secret-version' }>, to: 'previous' | number): { states: VersionStates; version: number } | { problem: string } {
  const numbers = secret.versions.map((v) => v.version).sort((a, b) => a - b);
  let target: number;
  if (to === 'previous') {
    if (secret.current === null) return { problem: `secret ${secret.secret} has no enabled version, so no previous one` };
    const earlier = numbers.filter((n) => n < secret.current!);
    if (earlier.length === 0) return { problem: `secret ${secret.secret} has no version before ${secret.current} (versions: ${numbers.join(', ')})` };
    target = earlier.at(-1)!;
  } else {
    if (!numbers.includes(to)) return { problem: `secret ${secret.secret} has no version ${to} (versions: ${numbers.join(', ')})` };
    target = to;
  }
  const states: VersionStates = {};
  for (const { version, state } of secret.versions) {
    if (version === target && state !== 'ENABLED') states[version] = 'ENABLED';
    if (version > target && state === 'ENABLED') states[version] = 'DISABLED';
  }
  return { states, version: target };
}

export const secretVersion: ActionKindModule<'secret-version', SecretVersionAction, SecretVersionChange, SecretVersionActivities> = {
  kind: 'secret-version',
  schema,
  capability: 'secrets',
  repeat: { safe: true, why: 'a version already in its state stays so' },
  describe: (action) => `secret-version ${action['secret-version']}`,

  async capture(action, ctx) {
    const all = await ctx.client('secrets', action.provider).readSecrets();
    const secret = all.find((s) => s.name === action['secret-version']);
    if (!secret) return ctx.block(unknownName('secret', action['secret-version'], action.provider, all.map((s) => s.name)));
    if (findValue(ctx.values, 'secret-version', (v) => v.provider === action.provider && v.secret === secret.name)) return; // read once
    ctx.values.push({ kind: 'secret-version', provider: action.provider, secret: secret.name, versions: secret.versions, current: secret.current });
  },

  plan(action, ctx) {
    const { provider } = action;
    const name = action['secret-version'];
    const found = findValue(ctx.live, 'secret-version', (v) => v.provider === provider && v.secret === name);
    if (!found) {
      ctx.unread(`secret ${name} was not read from ${provider}`);
      return [];
    }
    const target = secretVersionTarget(found, action.to);
    if ('problem' in target) {
      ctx.problem(target.problem);
      return [];
    }
    const before = Object.fromEntries(Object.keys(target.states).map((v) => [Number(v), found.versions.find((x) => x.version === Number(v))!.state])) as VersionStates;
    const planned = {
      name: ctx.named(`secret ${name}`),
      phase: ctx.phase,
      kind: 'secret-version',
      target: `secret ${name} (${provider})`,
      from: `version ${found.current ?? 'unset'}`,
      to: `version ${target.version}`,
      changes: Object.keys(target.states).length > 0,
      change: { provider, secret: name, states: target.states },
      undo: { provider, secret: name, states: before },
    };
    for (const version of found.versions) version.state = target.states[version.version] ?? version.state;
    found.current = target.version;
    return [planned];
  },

  carryOut: (change, ctx) => ctx.activities().setSecretVersions({ ...providerChange(ctx, change.provider), secret: change.secret, states: change.states }),
};
