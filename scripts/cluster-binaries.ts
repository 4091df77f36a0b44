/**
 * Resolves (and the first time builds, saying so) the Temporal server, temporal-sql-tool and the
 * Temporal UI server that `npm run cluster` and the cluster tests run. `npm test` and .ci/run call it
 * before the tests, so a cold build is not spent inside a test's time limit.
 */
import { fileURLToPath } from 'node:url';
import { resolveClusterBinaries } from './lib/cluster.ts';

async function run(): Promise<void> {
  const binaries = await resolveClusterBinaries((line) => console.log(line));
  console.log(`Temporal server: ${binaries.server}\ntemporal-sql-tool: ${binaries.sqlTool}\nTemporal UI server: ${binaries.ui}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
