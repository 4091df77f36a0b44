#!/usr/bin/env node
// Entry point of `npm start`, `npm run worker` and `npm test` on a fresh machine: it needs nothing but Node, installs the
// npm packages when they are missing or stale (and, for the tests, Debian's Chromium and PostgreSQL
// client where we are root), then hands over to the TypeScript scripts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureSystemPackages, testRequirements } from './lib/system-packages.mjs';
import { fastTierGroups, isFast, needsOf, NEEDS, testTiers } from './lib/test-tiers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const command = process.argv[2];

function run(label, cmd, args, options = {}) {
  if (label) console.log(`\n==> ${label}`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function ensureNodeModules() {
  const installed = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  const status = run('Installing npm packages (npm ci; about a minute the first time)', 'npm', ['ci', '--no-audit', '--no-fund']);
  if (status !== 0) process.exit(status);
}

ensureNodeModules();
const tsx = ['--import', 'tsx'];

/**
 * Runs `args` with node and exits as it does. Signals are passed on, so SIGTERM to this process alone
 * stops it. (Ctrl-C reaches the child from the terminal as well: it stops once, however many signals arrive.)
 */
function handOver(args, env = process.env) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  // npm exits on SIGTERM without passing it on; when our parent goes, stop as if we had been told.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && child.kill('SIGTERM'), 500).unref();
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (command === 'start' || command === 'cluster') {
  // start.ts resolves (and if need be builds) the Temporal CLI itself and says so while it works.
  handOver([...tsx, `scripts/${command}.ts`, ...process.argv.slice(3)]);
} else if (command === 'worker') {
  // The worker as every worker of ours runs (src/build/worker-command.ts prints it, building the worker's
  // JavaScript first when a source changed); its environment's own settings win over the defaults.
  const resolved = spawnSync(process.execPath, [...tsx, 'src/build/worker-command.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (resolved.status !== 0) process.exit(resolved.status ?? 1);
  const { args, env } = JSON.parse(resolved.stdout);
  handOver(args, { ...env, ...process.env });
} else if (command === 'test' || command === 'test-fast') {
  // npm test: everything, gates first. npm test -- <files>: those files after only what they need.
  // npm run test:fast: the tier that needs no Docker engine, browser, cluster or end-to-end rollback.
  const all = testTiers(root);
  const given = process.argv.slice(3);
  const chosen = command === 'test-fast' ? all.filter((t) => isFast(t.needs)) : given.length > 0 ? given.map((file) => ({ file, needs: needsOf(file, readFileSync(join(root, file), 'utf8')) })) : all;
  const needs = new Set(chosen.flatMap((t) => [...t.needs]));
  const whole = command === 'test' && given.length === 0;
  // Debian's packages: all of them for the whole suite, else what the chosen files need.
  const requirements = testRequirements().filter((r) => whole || (r.debianPackage === 'chromium' ? needs.has('browser') : ['docker.io', 'busybox-static'].includes(r.debianPackage) ? needs.has('docker') : true));
  const problems = ensureSystemPackages(requirements);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`npm test: ${problem}`);
    process.exit(1);
  }
  const steps = [
    [needs.has('temporal') || whole, 'Resolving the Temporal CLI (built from its Go module the first time: several minutes)', [...tsx, 'scripts/temporal-cli.ts']],
    [needs.has('cluster') || whole, 'Resolving the Temporal server, temporal-sql-tool and UI server for the cluster tests (built from their Go modules the first time: several minutes)', [...tsx, 'scripts/cluster-binaries.ts']],
    [needs.has('docker') || whole, 'Resolving Docker Compose v2 for the docker-compose provider tests (built from its Go module the first time: several minutes)', [...tsx, 'scripts/docker-tools.ts']],
    [needs.has('alerting') || whole, 'Resolving Prometheus and Alertmanager for the alerting chain test (built from their Go modules the first time: several minutes)', [...tsx, 'scripts/alerting-binaries.ts']],
    [whole, 'Typecheck (tsc --noEmit, strict)', ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']],
    [whole, 'Lint (eslint)', ['node_modules/eslint/bin/eslint.js', '.']],
  ];
  for (const [wanted, label, args] of steps) {
    if (!wanted) continue;
    const status = run(label, process.execPath, args);
    if (status !== 0) process.exit(status);
  }
  const testRun = (label, files, flags = []) => run(`${label} (node --test, ${files.length} files)`, process.execPath, [...tsx, '--test', ...flags, '--test-reporter=spec', ...files]);
  if (command === 'test-fast') {
    // The files that start nothing share one process (each process of its own costs about a second of
    // CPU to start: half the tier's CPU on 2 cores); the provider tests, which mostly wait on their
    // emulators, and the stubbed workflow rules each run in their own, four at a time.
    const { together, apart } = fastTierGroups(chosen);
    const entry = join(root, '.cache', 'test-fast', 'together.test.mjs');
    mkdirSync(dirname(entry), { recursive: true });
    writeFileSync(entry, `// Written by npm run test:fast: the fast tier's files that start nothing, in one process.\n${together.map((f) => `await import(${JSON.stringify(pathToFileURL(join(root, f)).href)});`).join('\n')}\n`);
    const say = [...needs].map((n) => NEEDS[n]).join(' and ');
    process.exit(testRun(`Fast tier: no sandbox, Docker engine, browser, cluster or bundle build${say ? ` (uses ${say})` : ''}; ${together.length} files in one process`, [...apart, relative(root, entry)], ['--test-concurrency=4']));
  }
  if (!whole) process.exit(testRun('Tests', chosen.map((t) => t.file)));
  // The cluster suite restarts PostgreSQL and SIGKILLs a Temporal server: it runs alone, after the rest.
  const cluster = all.filter((t) => t.needs.has('cluster')).map((t) => t.file);
  const main = testRun('Tests', all.map((t) => t.file).filter((f) => !cluster.includes(f)));
  const clusterStatus = testRun('Cluster tests: a Temporal server on PostgreSQL', cluster, ['--test-concurrency=1']);
  process.exit(main || clusterStatus);
} else {
  console.error('usage: node scripts/bootstrap.mjs start|cluster|worker|test|test-fast [test files...]');
  process.exit(2);
}
