// Which tests need what, read from the test files themselves, so `npm run test:fast` and
// `npm test -- <file>` start and build only what a file needs, and a new test file is placed in its
// tier the moment it exists (no list to keep). Plain JavaScript: the bootstrap runs it.
//
//   temporal  starts a Temporal dev server (the CLI is built from its Go module on first use)
//   sandbox   starts the sandbox system (replica processes, the router, its database)
//   docker    starts a private Docker engine and needs Docker Compose v2
//   browser   drives Chromium
//   cluster   runs the Temporal server on PostgreSQL with its UI server (built from Go modules)
//   alerting  runs Prometheus and Alertmanager (built from their Go modules)
//   bundler   builds workflow bundles from scratch (webpack: seconds of CPU each)
//   crash     starts worker processes and SIGKILLs them mid-action (each waits out timeouts: a minute)
//
// The fast tier is the loop to run while working: pure rules, the contract, runbook loading, providers
// against their emulators, and workflow rules with stubbed activities (a dev server alone starts in
// about a second). Everything that starts the sandbox system, a Docker engine, a browser or a cluster,
// or builds bundles from scratch, runs in `npm test`.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** @typedef {'temporal' | 'sandbox' | 'docker' | 'browser' | 'cluster' | 'alerting' | 'bundler' | 'crash'} Need */

/** What each need costs, in words, for what the bootstrap prints. */
export const NEEDS = {
  temporal: 'a Temporal dev server',
  sandbox: 'the sandbox system',
  docker: 'a private Docker engine',
  browser: 'Chromium',
  cluster: 'a Temporal cluster on PostgreSQL',
  alerting: 'Prometheus and Alertmanager',
  bundler: 'workflow bundles built from scratch',
  crash: 'worker processes killed mid-action',
};

/** How a test file shows each need: what it calls or imports. */
const SIGNS = /** @type {[Need, RegExp][]} */ ([
  ['temporal', /\b(startTemporal|startRollbackTestEnv|startTestWorker|createLocal|startMainJob|main-job)\b|scripts\/start\.ts|npm start/],
  ['sandbox', /\b(startSandbox|startTestSandbox|startRollbackTestEnv|newSystem|startMainJob|main-job)\b|scripts\/start\.ts|npm start/],
  ['docker', /docker-engine\.ts|\bstartDockerEngine\b/],
  ['alerting', /alerting-binaries\.ts|\bresolveAlertingBinaries\b/],
  ['bundler', /\bworkflowBundlePath\(\{ cacheDir/],
  ['crash', /\bSIGKILL/],
  // Chromium driven from outside test/browser/ (the cluster suite's UI check, the imported draft's dry run).
  ['browser', /\blaunchChromium\(/],
]);

/**
 * The needs of one test file (a path relative to the repository root).
 * @param {string} file
 * @param {string} text the file's contents
 * @returns {Set<Need>}
 */
export function needsOf(file, text) {
  const needs = new Set(SIGNS.filter(([, sign]) => sign.test(text)).map(([need]) => need));
  const parts = file.split(sep);
  if (parts.includes('browser')) needs.add('browser').add('temporal');
  if (parts.includes('cluster')) needs.add('cluster');
  return needs;
}

/** Whether a file with these needs belongs to the fast tier: it may start a dev server, nothing heavier. */
export function isFast(needs) {
  return !['sandbox', 'docker', 'browser', 'cluster', 'alerting', 'bundler', 'crash'].some((need) => needs.has(need));
}

/**
 * The fast tier split for running: the files that start nothing (no dev server, no emulator of a
 * provider's API) go `together` into one process, the rest `apart`, each in its own.
 * @param {{ file: string, needs: Set<Need> }[]} fast
 */
export function fastTierGroups(fast) {
  const startsSomething = (t) => t.needs.size > 0 || /(^|\/)provider-[^/]+\.test\.ts$/.test(t.file);
  return { together: fast.filter((t) => !startsSomething(t)).map((t) => t.file), apart: fast.filter(startsSomething).map((t) => t.file) };
}

/** Every test file under `dir`, relative to `root`, sorted. */
export function findTests(root, dir = join(root, 'test')) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return findTests(root, path);
      return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
    })
    .sort();
}

/** Every test file with its needs. */
export function testTiers(root) {
  return findTests(root).map((file) => ({ file, needs: needsOf(file, readFileSync(join(root, file), 'utf8')) }));
}
