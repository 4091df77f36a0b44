/**
 * Imports point one way, down (DESIGN.md): checked here over every file under src/, by folder, and
 * through the lint rules themselves (eslint.boundaries.js), which must refuse a workflow that reaches
 * for worker code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { activityWaits, boundaries } from '../eslint.boundaries.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every import between top-level folders of src/: "workflows -> plan", and whether only types cross it. */
function folderImports(): Map<string, 'type' | 'run'> {
  const edges = new Map<string, 'type' | 'run'>();
  for (const file of filesUnder(src)) {
    const from = relative(src, file).split('/')[0]!;
    for (const [, typeOnly, target] of readFileSync(file, 'utf8').matchAll(/^(?:import|export) (type )?[^;]*? from '(\.[^']+)'/gm)) {
      const to = relative(src, join(dirname(file), target!)).split('/')[0]!;
      if (to === from || to.startsWith('..')) continue;
      const edge = `${from} -> ${to}`;
      if (!typeOnly || !edges.has(edge)) edges.set(edge, typeOnly ? 'type' : 'run');
    }
  }
  return edges;
}

const PURE = ['contract', 'actions', 'plan'];

describe('layering', () => {
  const edges = folderImports();
  const from = (folder: string) => [...edges].filter(([edge]) => edge.startsWith(`${folder} ->`));

  test('no two folders under src/ import each other, not even for a type', () => {
    const mutual = [...edges.keys()].filter((edge) => edges.has(edge.split(' -> ').reverse().join(' -> ')));
    assert.deepEqual(mutual, []);
  });

  test('the contract imports nothing of ours; providers sit on the contract only', () => {
    assert.deepEqual(from('contract'), []);
    assert.deepEqual(from('providers').map(([edge]) => edge), ['providers -> contract']);
  });

  test('workflows, plans and action kinds run only pure code: anything else they name is a type', () => {
    for (const folder of ['workflows', ...PURE]) {
      const code = from(folder).filter(([edge, kind]) => kind === 'run' && !PURE.includes(edge.split(' -> ')[1]!));
      assert.deepEqual(code, [], `${folder} imports code from outside contract/, actions/ and plan/`);
    }
  });

  test('the CLI reaches the workflows through the contract, never their code or the activities', () => {
    assert.deepEqual(from('cli').filter(([edge]) => /-> (workflows|activities)$/.test(edge)), []);
  });

  test('lint refuses a workflow that imports worker-only code, and accepts the same import as a type', async () => {
    // The boundary rules exactly as eslint.config.js uses them; they read imports, not types, so the
    // parser runs without the type-aware project (which costs a whole-program typecheck).
    const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, plugins: { '@typescript-eslint': tseslint.plugin } }, ...boundaries] });
    const lint = async (code: string) => (await eslint.lintText(code, { filePath: join(src, 'workflows', 'health.ts') }))[0]!.messages.map((m) => m.message);
    const code = await lint("import { loadRunbooks } from '../runbook/load.ts';\nexport const load = loadRunbooks;\n");
    assert.ok(code.some((m) => m.includes('from activities, runbook and providers it takes types (import type), never code')), code.join('\n'));
    const worker = await lint("import { parseEnv } from '../worker/env.ts';\nexport const env = parseEnv;\n");
    assert.ok(worker.some((m) => m.includes('Worker, build, trigger and CLI code is never imported')), worker.join('\n'));
    const builtin = await lint("import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n");
    assert.ok(builtin.some((m) => m.includes('Node built-ins cannot run in workflow code')), builtin.join('\n'));
    assert.deepEqual(await lint("import type { Runbook } from '../runbook/schema.ts';\nexport type R = Runbook;\n"), []);
  });

  test("lint refuses an activity that waits with the SDK's context.sleep or races context.cancelled, and accepts sleepUntilCancelled", async () => {
    const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, activityWaits] });
    const lint = async (code: string) => (await eslint.lintText(code, { filePath: join(src, 'activities', 'watch.ts') }))[0]!.messages.map((m) => m.message);
    const sleep = "import { Context } from '@temporalio/activity';\nexport const a = () => Context.current().sleep(1000);\nexport const b = (context: Context) => context.sleep(1000);\n";
    assert.deepEqual(await lint(sleep), Array(2).fill('wait with sleepUntilCancelled (src/activities/heartbeat.ts): context.sleep leaves its timer on the activity until it ends'));
    const race = "import { Context } from '@temporalio/activity';\nexport const a = (work: Promise<void>) => Promise.race([work, Context.current().cancelled]);\n";
    assert.deepEqual(await lint(race), ['race with untilCancelled (src/activities/heartbeat.ts): a race with context.cancelled stays on the activity until it ends']);
    assert.deepEqual(await lint("import { sleepUntilCancelled } from './heartbeat.ts';\nexport const a = () => sleepUntilCancelled(1000);\n"), []);
  });
});
