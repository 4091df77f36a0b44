/**
 * `rollback providers [<id>] [--json]`: what a runbook can name under `provider:`, what each one
 * can do and the settings it takes, read from the registry the worker loads runbooks with.
 */
import { parseCommand, UsageError } from './args.ts';
import { table } from './format.ts';

export const providersUsage = `Usage: rollback providers [<id>] [--json]

Lists every provider a runbook can name, with its capabilities; with an id, its settings too.

  <id>     one provider, e.g. cloud-run
  --json   the same as JSON (id, description, capabilities, settings, example)`;

export async function providers(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } });
  // The registry brings every provider's client library: loaded for this command only, not for every `rollback` run.
  const { CAPABILITY_NAMES, PROVIDERS } = await import('../providers/index.ts');
  const { allProviders, settingsOf } = await import('../providers/settings-docs.ts');
  if (given.length > 1) throw new UsageError(`unexpected argument '${given[1]}'`);
  const [id] = given;
  if (id !== undefined && !PROVIDERS.has(id)) throw new UsageError(`unknown provider '${id}'; must be one of: ${allProviders().map((p) => p.id).join(', ')}`);
  const chosen = allProviders().filter((p) => id === undefined || p.id === id);
  if (values.json) {
    console.log(JSON.stringify(chosen.map((p) => ({ id: p.id, description: p.description, capabilities: p.capabilities, settings: settingsOf(p), example: p.example })), null, 2));
    return 0;
  }
  if (id === undefined) {
    console.log(table(['PROVIDER', 'CAPABILITIES', 'WHAT IT DOES'], chosen.map((p) => [p.id, p.capabilities.map((c) => CAPABILITY_NAMES[c]).join(', '), p.description])));
    console.log('\nrollback providers <id> shows its settings.');
    return 0;
  }
  const provider = chosen[0]!;
  console.log(`${provider.id}: ${provider.description}\ncapabilities: ${provider.capabilities.map((c) => CAPABILITY_NAMES[c]).join(', ')}\n\nsettings:`);
  console.log(
    table(
      ['NAME', 'TYPE', 'REQUIRED', 'DEFAULT', 'DESCRIPTION'],
      settingsOf(provider).map((s) => [s.name, s.type, s.required ? 'yes' : 'no', s.default === undefined ? '-' : JSON.stringify(s.default), s.description ?? '']),
    ),
  );
  console.log(`\nexample:\n  provider: ${provider.id}\n  settings: ${JSON.stringify(provider.example)}`);
  return 0;
}
