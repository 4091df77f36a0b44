/**
 * `npm run docs`: writes the reference pages of docs/ from what the code declares, so they cannot
 * drift from it:
 *
 *   docs/runbook-reference.md  the runbook schema (src/runbook/schema.ts, through z.toJSONSchema), the
 *                              contract's gates (src/contract/names.ts) and the action-kind registry
 *                              (src/actions/index.ts: fields, capability, repeat safety)
 *   docs/providers.md          the provider registry (src/providers/index.ts) and each provider's
 *                              settings (src/providers/settings-docs.ts, as `rollback providers` reads them)
 *   docs/cli-reference.md      the CLI's usage texts (src/cli/usage.ts and each command's)
 *   docs/contract.md           the names outsiders type (src/contract/): workflow types and their
 *                              inputs, gates, signals and their payloads, search attributes, failure types
 *
 * The output depends on the code only (no clock, no machine), so the same code writes the same bytes;
 * test/docs.test.ts fails when a committed page differs from what this writes now.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliReference } from './docs/cli-reference.ts';
import { contractPage } from './docs/contract-page.ts';
import { providersPage } from './docs/providers-page.ts';
import { root } from './docs/root.ts';
import { runbookReference } from './docs/runbook-reference.ts';

export { root } from './docs/root.ts';

/** Every generated page, by path from the repository root. */
export function generatedPages(): Record<string, string> {
  return {
    'docs/runbook-reference.md': runbookReference(),
    'docs/providers.md': providersPage(),
    'docs/cli-reference.md': cliReference(),
    'docs/contract.md': contractPage(),
  };
}

function run(): void {
  for (const [path, text] of Object.entries(generatedPages())) {
    writeFileSync(join(root, path), text);
    console.log(`wrote ${path}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    run();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
