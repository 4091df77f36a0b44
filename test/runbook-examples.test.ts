/**
 * The runbook examples in runbooks/examples/, one per platform. Each loads with the worker's own
 * loader (loadRunbooks, which reads every file with parseRunbook: the zod schema, inline secrets, the
 * provider registry's capability and settings checks, system = file name); uses the provider its
 * platform needs; names only release and restart targets its provider settings know and command
 * success patterns that compile (the loader checks neither: a rollback would find out); points only
 * at reserved example hosts or this host; and passes the JSON Schema editors check it against
 * (schemas/runbook.schema.json). Last, the worker loads runbooks/ only, never the examples.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { actionKind } from '../src/actions/index.ts';
import type { Action } from '../src/actions/index.ts';
import { loadRunbooks, parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { envSchema } from '../src/worker/env.ts';
import { releaseTargets } from '../src/activities/releases.ts';

const root = join(import.meta.dirname, '..');
const examplesDir = join(root, 'runbooks', 'examples');
const files = readdirSync(examplesDir).filter((name) => /\.ya?ml$/.test(name)).sort();
const text = (file: string) => readFileSync(join(examplesDir, file), 'utf8');
const load = (file: string) => parseRunbook(text(file), `runbooks/examples/${file}`);

const actions = (runbook: Runbook): Action[] => runbook.phases.flatMap((phase) => phase.rollback);
/** The provider id an action runs through (the loader has filled in each action's provider name). */
const providerOf = (runbook: Runbook, action: Action) => ('provider' in action && action.provider !== undefined ? runbook.providers[action.provider]?.provider : undefined);
const kindsOf = (runbook: Runbook) => new Set(actions(runbook).map(actionKind));

/** What each platform's example must declare, beyond loading. */
const PLATFORMS: Record<string, (runbook: Runbook) => void> = {
  'cloud-run.yaml': (r) => {
    assert.equal(r.traffic?.provider, 'cloud-run');
    assert.deepEqual(r.traffic.gradualSteps, [50, 0], 'seed 002: 50/50, then all on the previous revision');
    assert.equal(r.traffic.stepPauseSeconds, 300);
    assert.equal(r.traffic.stableInstances, undefined, 'Cloud Run scales by itself: no instance counts');
    assert.equal(r.release, undefined);
    const config = actions(r).filter((a) => 'config' in a);
    assert.ok(config.length > 0, 'a phase rolls env vars back');
    for (const action of config) assert.equal(providerOf(r, action), 'cloud-run', 'env vars through the cloud-run provider');
    assert.deepEqual(r.preflight.map((check) => Object.keys(check).find((key) => ['sql', 'url', 'command', 'release'].includes(key))), ['sql', 'url', 'release'], "seed 002's pre-rollback checklist: migrations, dependent services, the revision to go to");
  },
  'fly.yaml': (r) => {
    assert.equal(r.release?.provider, 'fly-machines');
    assert.equal(r.statusPage?.provider, 'statuspage');
    assert.ok(r.notify.some((ref) => ref.provider === 'slack'), 'notifies Slack');
    for (const action of actions(r).filter((a) => 'config' in a || 'restart' in a)) assert.equal(providerOf(r, action), 'fly-machines');
    assert.ok(kindsOf(r).has('config') && kindsOf(r).has('restart'));
  },
  'railway.yaml': (r) => assert.equal(r.release?.provider, 'railway'),
  'render.yaml': (r) => assert.equal(r.release?.provider, 'render'),
  'kubernetes.yaml': (r) => {
    assert.equal(r.release?.provider, 'kubernetes');
    const restarts = actions(r).filter((a) => 'restart' in a);
    assert.ok(restarts.length > 0, 'a phase restarts Deployments');
    for (const action of restarts) assert.equal(providerOf(r, action), 'kubernetes');
  },
  'compose.yaml': (r) => {
    assert.equal(r.release?.provider, 'docker-compose');
    const checked = new Set(r.health.checks.map((check) => check.name));
    const targets = releaseTargets(r.release!).map((t) => t.target);
    for (const target of targets) assert.ok(checked.has(target), `health checks ${target}`);
    const healthUrls = r.release!.settings.healthUrls as Record<string, string>;
    assert.deepEqual(Object.keys(healthUrls).sort(), [...targets].sort(), 'each rolled-back service waits for its health URL');
  },
  'commands.yaml': (r) => {
    assert.equal(r.traffic, undefined);
    assert.equal(r.release, undefined);
    assert.deepEqual([...kindsOf(r)], ['command'], 'only command actions');
    for (const action of actions(r)) assert.equal(providerOf(r, action), 'command');
    assert.ok(actions(r).some((a) => 'command' in a && a.undo && Object.keys(a.env).length > 0), 'a command with an undo and its variables by name');
  },
};

/** The provider setting whose keys are the targets a release or restart may name. */
const TARGET_KEYS: Record<string, string> = { 'fly-machines': 'apps', kubernetes: 'deployments', railway: 'services', render: 'services' };

function targetsOf(ref: { provider: string; settings: Record<string, unknown> }): string[] | null {
  const key = TARGET_KEYS[ref.provider];
  return key ? Object.keys(ref.settings[key] as Record<string, unknown>) : null;
}

/** Every string of the document that is a URL. */
function urls(node: unknown): string[] {
  if (typeof node === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? [node] : [];
  if (Array.isArray(node)) return node.flatMap(urls);
  if (node && typeof node === 'object') return Object.values(node).flatMap(urls);
  return [];
}

describe('runbook examples (runbooks/examples/)', () => {
  test('one example per platform, each named after its system', () => {
    assert.deepEqual(files, Object.keys(PLATFORMS).sort());
  });

  for (const file of Object.keys(PLATFORMS)) {
    test(`${file} loads with the worker's loader and uses the provider its platform needs`, () => {
      const lines = text(file).split('\n');
      assert.equal(lines[0], '# yaml-language-server: $schema=../../schemas/runbook.schema.json');
      assert.match(lines.slice(1, 4).join('\n'), /seed 00\d/, 'names the seed it follows');
      const runbook = load(file);
      assert.equal(runbook.system, file.replace(/\.ya?ml$/, ''));
      PLATFORMS[file]!(runbook);
    });
  }

  test('the folder loads as the worker loads a runbooks folder, every system once', () => {
    const loaded = loadRunbooks(examplesDir);
    assert.deepEqual([...loaded.keys()].sort(), files.map((file) => file.replace(/\.ya?ml$/, '')).sort());
  });

  test('release and restart targets are ones the provider settings name (the loader does not check them)', () => {
    for (const file of files) {
      const runbook = load(file);
      if (runbook.release) {
        const known = targetsOf(runbook.release);
        if (known) for (const { target } of releaseTargets(runbook.release)) assert.ok(known.includes(target), `${file}: release target ${target} must be one of ${known.join(', ')}`);
      }
      for (const action of actions(runbook)) {
        if (!('restart' in action) || action.restart === 'all') continue;
        const known = targetsOf(runbook.providers[action.provider!]!);
        assert.ok(known?.includes(action.restart), `${file}: restart ${action.restart} must be one of ${known?.join(', ')}`);
      }
    }
  });

  test('command success patterns compile as JavaScript regular expressions (the loader takes any string)', () => {
    for (const file of files) {
      for (const action of actions(load(file))) {
        if ('command' in action && action.successPattern !== undefined) assert.doesNotThrow(() => new RegExp(action.successPattern!), `${file}: /${action.successPattern}/`);
      }
    }
  });

  test('URLs point at reserved example names or this host, never a real one', () => {
    for (const file of files) {
      for (const url of urls(parse(text(file)))) {
        const host = new URL(url).hostname;
        assert.ok(/(^|\.)(example|invalid)$|\.example\.com$|^127\.0\.0\.1$|^localhost$/.test(host), `${file}: ${url}`);
      }
    }
  });

  test('each passes the JSON Schema editors validate against (schemas/runbook.schema.json)', () => {
    const schema = JSON.parse(readFileSync(join(root, 'schemas', 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
    const check = new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    for (const file of files) {
      assert.equal(check(parse(text(file))), true, `${file}: ${(check.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('; ')}`);
    }
  });
});

describe('the worker and the examples', () => {
  test('the worker loads the runbooks folder itself (RUNBOOKS_DIR, default runbooks), not its subfolders: no example is a live runbook', () => {
    assert.equal(envSchema.parse({}).RUNBOOKS_DIR, 'runbooks');
    const live = loadRunbooks(join(root, 'runbooks'));
    const topLevel = readdirSync(join(root, 'runbooks')).filter((name) => /\.ya?ml$/.test(name));
    assert.equal(live.size, topLevel.length);
    for (const file of files) assert.equal(live.has(file.replace(/\.ya?ml$/, '')), false, `${file} is not loaded as a live runbook`);
  });
});
