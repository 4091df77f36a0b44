/**
 * Writes schemas/runbook.schema.json from the zod runbook schema, for editors (the YAML language
 * server reads the `# yaml-language-server: $schema=` line at the top of a runbook). A test checks
 * the committed file is current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { gateNames } from '../src/contract/index.ts';
import { runbookSchema } from '../src/runbook/schema.ts';
import { allProviders, settingsJsonSchema } from '../src/providers/settings-docs.ts';

export const schemaPath = fileURLToPath(new URL('../schemas/runbook.schema.json', import.meta.url));

export function runbookJsonSchema(): string {
  const providers = allProviders();
  // io: 'input' describes what a person writes (defaults optional), not what the parser returns.
  const schema = z.toJSONSchema(runbookSchema, {
    io: 'input',
    unrepresentable: 'any',
    // Gate names are checked in a refinement (for its "did you mean" message); editors get the list here.
    override: ({ jsonSchema, path }) => {
      if (path.join('.') === 'properties.gates') {
        // `before-phase-<id>` stands for one gate per phase: a pattern, not a name to type literally.
        const names = [...gateNames().keys()];
        const fixed = names.filter((name) => !name.includes('<id>'));
        const perPhase = names.filter((name) => name.includes('<id>')).map((name) => `^${name.replace('<id>', '[0-9]+')}$`);
        jsonSchema.propertyNames = { type: 'string', anyOf: [{ enum: fixed }, ...perPhase.map((pattern) => ({ pattern }))] };
      }
      // A provider reference ({provider, settings}): the id is one of the registry's, and the settings
      // are checked by that provider's own schema, so an editor flags a typo in a setting too.
      const properties = jsonSchema.properties as Record<string, Record<string, unknown>> | undefined;
      if (properties?.provider && properties.settings) {
        properties.provider = { ...properties.provider, enum: providers.map((p) => p.id) };
        jsonSchema.allOf = providers.map((provider) => ({
          if: { properties: { provider: { const: provider.id } }, required: ['provider'] },
          then: { properties: { settings: settingsJsonSchema(provider) } },
        }));
      }
    },
  });
  return `${JSON.stringify({ ...schema, title: 'rollback-runbooks runbook file' }, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(schemaPath, runbookJsonSchema());
  console.log(`wrote ${schemaPath}`);
}
