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

export const schemaPath = fileURLToPath(new URL('../schemas/runbook.schema.json', import.meta.url));

export function runbookJsonSchema(): string {
  // io: 'input' describes what a person writes (defaults optional), not what the parser returns.
  const schema = z.toJSONSchema(runbookSchema, {
    io: 'input',
    unrepresentable: 'any',
    // Gate names are checked in a refinement (for its "did you mean" message); editors get the list here.
    override: ({ jsonSchema, path }) => {
      if (path.join('.') === 'properties.gates') jsonSchema.propertyNames = { type: 'string', enum: [...gateNames().keys()] };
    },
  });
  return `${JSON.stringify({ ...schema, title: 'rollback-runbooks runbook file' }, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(schemaPath, runbookJsonSchema());
  console.log(`wrote ${schemaPath}`);
}
