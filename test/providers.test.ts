/**
 * The provider registry and the project's layering: every provider file is registered under its id
 * and offers a client for each capability it declares, with the methods that capability needs; an
 * unknown id or a provider asked for something it does not offer is refused naming the right ones;
 * folders import one way (nothing under src/ imports a folder that imports it back).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findProvider, PROVIDERS, providersOf, type AnyProvider } from '../src/providers/index.ts';
import type { Capability } from '../src/providers/types.ts';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse, stringify } from 'yaml';
import { parseRunbook } from '../src/runbook/load.ts';
import { runbookJsonSchema } from '../scripts/generate-runbook-schema.ts';
import { settingsJsonSchema, settingsOf } from '../src/providers/settings-docs.ts';
import { quietLogger } from './harness.ts';

const src = fileURLToPath(new URL('../src/', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The methods each capability's client must have. */
const METHODS: Record<Capability, string[]> = {
  traffic: ['readState', 'setWeights'],
  scaling: ['readState', 'scale'],
  metrics: ['scrape'],
  notify: ['send'],
  flags: ['readFlags', 'setFlag'],
  config: ['readConfig', 'setConfig'],
  secrets: ['readSecrets', 'setVersionStates'],
  killSwitches: ['listKillSwitches', 'readKillSwitches', 'setKillSwitch'],
  restarts: ['targets', 'readReplicas', 'restart'],
  commands: ['run'],
  keyspace: ['countKeys', 'backup', 'listBackups', 'verifyBackup', 'restore', 'verifyRestore', 'undoRestore'],
  faults: ['read', 'setFault', 'setBreaker', 'setMemory'],
  releases: ['readRelease', 'listReleases', 'findRelease', 'rollTo'],
  statusPage: ['open', 'update'],
  reverts: ['readHead', 'revert'],
  volumes: ['readVolume', 'archiveVolume', 'replaceVolume', 'stopServices', 'startServices'],
  appSecrets: ['readAppSecrets', 'appName', 'setAppSecret'],
  databaseClones: ['readInstance', 'recoveryWindow', 'cloneInstance', 'labelInstance'],
  logs: ['readWindow'],
};

describe('provider registry', () => {
  test('every provider file under src/providers is registered, and every registered provider has its file', async () => {
    const defined: string[] = [];
    for (const file of filesUnder(join(src, 'providers'))) {
      const module = (await import(file)) as Record<string, unknown>;
      for (const value of Object.values(module)) {
        const candidate = value as Partial<AnyProvider>;
        if (candidate && typeof candidate === 'object' && typeof candidate.id === 'string' && Array.isArray(candidate.capabilities) && typeof candidate.create === 'function') {
          defined.push(candidate.id);
          assert.equal(PROVIDERS.get(candidate.id), candidate, `${relative(src, file)}: provider '${candidate.id}' is the registered one`);
        }
      }
    }
    assert.deepEqual(defined.sort(), [...PROVIDERS.keys()].sort());
  });

  test('each provider accepts its example settings and offers every method of every capability it declares', async () => {
    for (const provider of PROVIDERS.values()) {
      const settings = provider.settingsSchema.parse(provider.example);
      // Secrets by name: give every *Env setting a value, as the worker's environment would.
      const env = Object.fromEntries(Object.entries(provider.example).filter(([k]) => k.endsWith('Env')).map(([, name]) => [String(name), 'postgres://u@127.0.0.1:1/x']));
      const client = provider.create(settings, { env, logger: quietLogger }) as unknown as Record<string, Record<string, unknown>> & { close?: () => Promise<void> };
      for (const capability of provider.capabilities) {
        for (const method of METHODS[capability]) assert.equal(typeof client[capability]?.[method], 'function', `${provider.id}.${capability}.${method}`);
      }
      await client.close?.();
      assert.ok(provider.description.length > 20, `${provider.id} says what it does`);
    }
  });

  test('every provider\'s settings are checked when the runbook loads: its example loads, a misspelt or missing setting is refused naming it', () => {
    const rto = { detectionMinutes: 5, decisionMinutes: 5, executionMinutes: 10, verificationMinutes: 5 };
    const load = (settings: Record<string, unknown>, id: string) => {
      const doc = { system: 'x', approvers: { oncall: ['alice'] }, rto, providers: { under_test: { provider: id, settings } } };
      return () => parseRunbook(stringify(doc), 'runbooks/x.yaml');
    };
    for (const provider of PROVIDERS.values()) {
      assert.doesNotThrow(load(provider.example, provider.id), `${provider.id}: its example settings load`);
      assert.throws(load({ ...provider.example, tokenEnvv: 'X' }, provider.id), { message: /runbooks\/x\.yaml: providers\.under_test\.settings: unknown key 'tokenEnvv'$/ }, provider.id);
      const required = settingsOf(provider).filter((s) => s.required);
      for (const setting of required) {
        const without = Object.fromEntries(Object.entries(provider.example).filter(([name]) => name !== setting.name));
        const pattern = new RegExp(`runbooks/x\\.yaml: providers\\.under_test\\.settings(\\.${setting.name})?: .*`);
        assert.throws(load(without, provider.id), { message: pattern }, `${provider.id}: without ${setting.name}`);
      }
    }
  });

  test('an unknown id lists the providers of that capability; a provider asked for what it does not offer names those that do', () => {
    assert.throws(() => findProvider('flags', 'launchdarkly'), { message: "unknown feature flags provider 'launchdarkly'; must be one of: postgres-table, flagd-file" });
    assert.throws(() => findProvider('killSwitches', 'postgres-table'), {
      message: "provider 'postgres-table' offers no kill switches (it offers feature flags); providers of kill switches: redis",
    });
    assert.deepEqual(providersOf('restarts'), ['http-admin', 'fly-machines', 'kubernetes']);
  });
});

describe('runbook JSON Schema', () => {
  const schema = JSON.parse(runbookJsonSchema()) as Record<string, unknown>;
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  const check = ajv.compile(schema);
  const sandbox = () => parse(readFileSync(join(src, '..', 'runbooks', 'sandbox.yaml'), 'utf8')) as Record<string, any>;

  test('holds every registered provider\'s settings schema, chosen by the provider id', () => {
    const text = JSON.stringify(schema);
    for (const provider of PROVIDERS.values()) {
      const rule = JSON.stringify({ if: { properties: { provider: { const: provider.id } }, required: ['provider'] }, then: { properties: { settings: settingsJsonSchema(provider) } } });
      assert.ok(text.includes(rule), `${provider.id}: its settings schema is in schemas/runbook.schema.json`);
    }
  });

  test('an editor validating against it accepts the sandbox runbook and flags a misspelt setting and an unknown provider', () => {
    assert.equal(check(sandbox()), true, JSON.stringify(check.errors));
    const misspelt = sandbox();
    misspelt.traffic.settings = { ur: 'http://127.0.0.1:18080' };
    assert.equal(check(misspelt), false);
    const messages = (check.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    assert.ok(messages.some((m) => m.startsWith('/traffic/settings must have required property') && m.includes('"url"')), messages.join('\n'));
    assert.ok(messages.some((m) => m.startsWith('/traffic/settings must NOT have additional properties') && m.includes('"ur"')), messages.join('\n'));
    const unknown = sandbox();
    unknown.notify = [{ provider: 'pagerduty', settings: {} }];
    assert.equal(check(unknown), false);
    assert.ok((check.errors ?? []).some((e) => e.instancePath === '/notify/0/provider' && e.message === 'must be equal to one of the allowed values'));
  });
});
