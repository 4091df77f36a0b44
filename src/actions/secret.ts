/**
 * `secret: {target, name, value: {env: VAR} | unset: true, previous?: {env: VAR}}`: an app secret set
 * or unset where the platform keeps no versions and never gives a value back (Fly's `fly secrets
 * set/unset`, seed 000). The value comes from an environment variable of the worker, so it is never
 * in the runbook, the workflow's history or a log; the snapshot holds only the digest the platform
 * reports. The undo puts back what was there: it unsets a secret that was absent, and sets one that
 * existed from `previous` (the variable where the worker finds the old value); without `previous`
 * there is no way back here, and the report says so plainly.
 */
import { z } from 'zod';
import { envVarName } from '../contract/index.ts';
import { findValue, lazily, providerChange, unknownName, type ActionKindModule, type ProviderChange } from './kind.ts';
import { providerField } from './provider-field.ts';

const secretName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a secret name: letters, digits and "_", not starting with a digit');
const fromEnv = z.strictObject({ env: envVarName.describe('the environment variable of the worker holding the value') });

const schema = lazily(() =>
  z.strictObject({
    secret: z
      .union([
        z.strictObject({
          target: z.string().min(1).max(200).describe('the app (version) whose secret this is, as its provider names it'),
          name: secretName.describe('the secret, e.g. OPENAI_API_KEY'),
          value: fromEnv.describe('where the worker finds the value to set: never the value itself'),
          previous: fromEnv.optional().describe('where the worker finds the value the secret had, for the undo; without it a secret that existed cannot be put back'),
        }),
        z.strictObject({
          target: z.string().min(1).max(200),
          name: secretName,
          unset: z.literal(true).describe('remove the secret'),
          previous: fromEnv.optional().describe('where the worker finds the value the secret had, for the undo'),
        }),
      ])
      .describe('set an app secret from a worker environment variable, or unset it; Machines are updated to load it'),
    provider: providerField(),
  }),
);
export type SecretAction = z.output<ReturnType<typeof schema>>;

export interface SecretChange {
  provider: string;
  target: string;
  name: string;
  /** The worker environment variable holding the value; null unsets. Never the value. */
  fromEnv: string | null;
}

export interface SecretActivities {
  setAppSecret(input: ProviderChange & { target: string; name: string; fromEnv: string | null }): Promise<{ name: string; digest: string }[]>;
}

const digestShown = (digest: string | null) => (digest === null ? 'unset' : `set (digest ${digest.slice(0, 12)})`);

export const secret: ActionKindModule<'secret', SecretAction, SecretChange, SecretActivities> = {
  kind: 'secret',
  schema,
  capability: 'appSecrets',
  repeat: { safe: true, why: 'a secret already as asked is not written again, and Machines that loaded it are not updated again' },
  describe: (action) => `secret ${action.secret.name} of ${action.secret.target}`,

  async capture(action, ctx) {
    const { target, name } = action.secret;
    for (const variable of ['value' in action.secret ? action.secret.value.env : null, action.secret.previous?.env]) {
      if (variable && !ctx.hasEnv(variable)) ctx.block(`secret ${name} of ${target}: environment variable ${variable} is not set on the worker`, `set ${variable} in the worker's environment and restart it`);
    }
    if (findValue(ctx.values, 'app-secret', (v) => v.provider === action.provider && v.target === target && v.name === name)) return; // read once
    const client = ctx.client('appSecrets', action.provider);
    let secrets: { name: string; digest: string }[];
    try {
      secrets = await client.readAppSecrets(target);
    } catch (err) {
      return ctx.block(`secret ${name} of ${target} (${action.provider}): ${(err as Error).message}`);
    }
    const found = secrets.find((s) => s.name === name);
    if (!found && 'unset' in action.secret && !action.secret.previous) {
      // Unsetting a secret that is not there would change nothing: most likely a misspelt name.
      return ctx.block(unknownName('secret', name, `${target} (${action.provider})`, secrets.map((s) => s.name)));
    }
    ctx.values.push({ kind: 'app-secret', provider: action.provider, target, name, digest: found?.digest ?? null, app: client.appName(target) });
  },

  plan(action, ctx) {
    const { provider } = action;
    const { target, name, previous } = action.secret;
    const found = findValue(ctx.live, 'app-secret', (v) => v.provider === provider && v.target === target && v.name === name);
    if (!found) {
      ctx.unread(`secret ${name} of ${target} was not read from ${provider}`);
      return [];
    }
    const fromEnv = 'value' in action.secret ? action.secret.value.env : null;
    // Absent before: unsetting puts it back exactly. Present: only the value the runbook names can.
    const undo = found.digest === null ? { provider, target, name, fromEnv: null } : previous ? { provider, target, name, fromEnv: previous.env } : null;
    const planned = {
      name: ctx.named(`secret ${name} of ${target}`),
      phase: ctx.phase,
      kind: 'secret',
      target: `secret ${name} of ${target} (${provider})`,
      from: digestShown(found.digest),
      to: fromEnv ? `set from $${fromEnv}` : 'unset',
      // Whether a value differs is known only to the provider (it compares digests); unsetting an absent one changes nothing.
      changes: fromEnv !== null || found.digest !== null,
      change: { provider, target, name, fromEnv },
      undo,
      ...(undo ? {} : { noUndo: `${provider} keeps no earlier values of secret ${name}, and the runbook names none (previous: {env: VAR}); set it again by hand (fly secrets set ${name}=... -a ${found.app ?? target})` }),
    };
    found.digest = fromEnv ? `from $${fromEnv}` : null;
    return [planned];
  },

  async carryOut(change, ctx) {
    // Setting a secret updates every Machine of the app and waits for it to start again: minutes.
    await ctx.activities(600).setAppSecret({ ...providerChange(ctx, change.provider), target: change.target, name: change.name, fromEnv: change.fromEnv });
    ctx.note(`- ${change.fromEnv ? `set secret ${change.name} of ${change.target} from $${change.fromEnv}` : `unset secret ${change.name} of ${change.target}`} (${change.provider}); its Machines updated to load it`);
  },
};
