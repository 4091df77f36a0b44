/**
 * What `npm test` does about what it needs from the machine (scripts/lib/system-packages.mjs):
 * install Debian's packages where it is root, else say in one line what to install. The plan is pure
 * and tested here; the install itself ran on a fresh machine (see the README's quick start).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isPresent, planSystemPackages, testRequirements } from '../scripts/lib/system-packages.mjs';
import { fastTierGroups, isFast, needsOf, testTiers } from '../scripts/lib/test-tiers.mjs';

const [chromium, pgClient] = testRequirements({ PATH: process.env.PATH });

describe('system packages for npm test', () => {
  test('Chromium and the PostgreSQL client are what the tests need, found where Debian puts them', () => {
    assert.equal(chromium!.path, '/usr/bin/chromium');
    assert.equal(chromium!.debianPackage, 'chromium');
    assert.equal(pgClient!.command, 'pg_restore');
    assert.equal(isPresent({ what: 'sh', debianPackage: 'dash', command: 'sh' }), true);
    assert.equal(isPresent({ what: 'x', debianPackage: 'x', path: '/nonexistent/chromium' }), false);
  });

  test('as root with apt-get, missing packages are installed', () => {
    assert.deepEqual(planSystemPackages([chromium!, pgClient!], { isRoot: true, hasAptGet: true }), { install: ['chromium', 'postgresql-client'], problems: [] });
  });

  test('as another user, one line says what to install; nothing is attempted', () => {
    assert.deepEqual(planSystemPackages([chromium!], { isRoot: false, hasAptGet: true }), {
      install: [],
      problems: ['Chromium (the browser test drives the Temporal Web UI in it) is missing: install it with sudo apt-get install -y chromium, or set CHROMIUM_PATH to a Chromium binary'],
    });
  });

  test('a CHROMIUM_PATH that points nowhere is reported, not papered over by an install', () => {
    const [explicit] = testRequirements({ CHROMIUM_PATH: '/opt/chrome/missing' });
    assert.deepEqual(planSystemPackages([explicit!], { isRoot: true, hasAptGet: true }), {
      install: [],
      problems: ["CHROMIUM_PATH=/opt/chrome/missing does not exist or is not executable; point it at Chromium or unset it to use Debian's package"],
    });
  });
});

describe('npm packages', () => {
  test("every dependency's install script has been reviewed, so a newcomer's first npm ci prints no warning about them", () => {
    // Each is denied in package.json's allowScripts; none is needed (docs/development.md says why).
    const { allowScripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { allowScripts: Record<string, boolean> };
    assert.deepEqual(allowScripts, { protobufjs: false, '@swc/core': false, esbuild: false });
    const listed = execFileSync('npm', ['install-scripts', 'ls'], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    assert.equal(listed.trim(), 'No packages with unreviewed install scripts.');
  });
});

describe('test tiers', () => {
  const root = new URL('..', import.meta.url).pathname;
  const tiers = new Map(testTiers(root).map((t) => [t.file, t.needs]));
  const fast = [...tiers].filter(([, needs]) => isFast(needs)).map(([file]) => file);

  test('each test file says what it needs by what it calls: a dev server, the sandbox, a Docker engine, a browser, a cluster', () => {
    assert.deepEqual([...needsOf('test/x.test.ts', "const t = await startRollbackTestEnv();")].sort(), ['sandbox', 'temporal']);
    assert.deepEqual([...needsOf('test/x.test.ts', "import { startDockerEngine } from './docker-engine.ts';")], ['docker']);
    assert.deepEqual([...needsOf('test/browser/ui.test.ts', '')].sort(), ['browser', 'temporal']);
    assert.deepEqual([...needsOf('test/cluster/c.test.ts', '')], ['cluster']);
    assert.deepEqual([...needsOf('test/x.test.ts', "import { resolveAlertingBinaries } from '../scripts/alerting-binaries.ts';")], ['alerting'], 'Prometheus and Alertmanager are built before the file runs');
    assert.deepEqual([...needsOf('test/x.test.ts', "startTemporal(); worker.kill('SIGKILL');")].sort(), ['crash', 'temporal'], 'a crash test waits out timeouts: not the fast loop');
    assert.deepEqual([...needsOf('test/x.test.ts', "import { parseRunbook } from '../src/runbook/load.ts';")], []);
  });

  test('the fast tier holds the pure, emulator and stubbed-workflow tests, and nothing that starts the sandbox, Docker, a browser or the cluster, or builds bundles from scratch', () => {
    for (const file of ['test/runbook.test.ts', 'test/contract.test.ts', 'test/provider-cloud-run.test.ts', 'test/workflow-rules.test.ts', 'test/layering.test.ts']) assert.ok(fast.includes(file), `${file} is fast`);
    for (const file of ['test/full-rollback.test.ts', 'test/sandbox.test.ts', 'test/workflow-bundle.test.ts', 'test/provider-docker-compose.test.ts', 'test/browser/temporal-ui.test.ts', 'test/cluster/cluster.test.ts', 'test/prometheus-chain.test.ts', 'test/main-job.test.ts', 'test/worker-crash-clone.test.ts']) {
      assert.ok(!fast.includes(file), `${file} is not fast`);
    }
  });

  test('in the fast tier, files that start nothing share one process; provider emulators and the dev server each get their own', () => {
    const { together, apart } = fastTierGroups(fast.map((file) => ({ file, needs: tiers.get(file)! })));
    assert.deepEqual([...together, ...apart].sort(), [...fast].sort());
    assert.ok(together.includes('test/runbook.test.ts') && together.includes('test/contract.test.ts'));
    assert.ok(apart.includes('test/provider-fly.test.ts') && apart.includes('test/workflow-rules.test.ts'));
  });
});
