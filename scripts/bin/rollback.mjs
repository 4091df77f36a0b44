#!/usr/bin/env node
// `rollback` on PATH (npm link, npx rollback): runs src/cli/main.ts under tsx from this repository, so
// it works from any directory. tsx is resolved here, not by `--import tsx`, which would look in the cwd.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

async function run() {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal; a SIGTERM sent to this process alone is passed on.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (constants.signals[signal] ?? 0)));
  });
  process.exit(code);
}

run().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
