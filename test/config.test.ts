import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runbookJsonSchema, schemaPath } from '../scripts/generate-runbook-schema.ts';
import { cacheDir, resolveTemporalCli } from '../scripts/temporal-cli.ts';
import { parseEnv } from '../src/worker/env.ts';
import { ACTION_KINDS } from '../src/actions/index.ts';

describe('worker environment', () => {
  test('defaults apply when nothing is set', () => {
    const env = parseEnv({});
    assert.equal(env.RUNBOOKS_DIR, 'runbooks');
    assert.equal(env.WORKER_METRICS_ADDRESS, '127.0.0.1:9464');
    assert.equal(env.WORKER_SHUTDOWN_GRACE_SECONDS, 30);
  });

  test('a bad environment fails with every problem listed', () => {
    assert.throws(
      () => parseEnv({ TEMPORAL_ADDRESS: 'http://localhost:7233', LOG_LEVEL: 'loud', WORKER_SHUTDOWN_GRACE_SECONDS: 'soon', TEMPORAL_TLS: 'yes' }),
      {
        name: 'EnvError',
        message: [
          'invalid worker environment:',
          '  TEMPORAL_ADDRESS: must be host:port, like localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233',
          '  TEMPORAL_TLS: must be one of: "0", "1", "true", "false"; received "yes"',
          '  LOG_LEVEL: must be one of: "trace", "debug", "info", "warn", "error", "fatal"; received "loud"',
          '  WORKER_SHUTDOWN_GRACE_SECONDS: must be a whole number, not "soon"',
        ].join('\n'),
      },
    );
  });

  test('WORKER_METRICS_ADDRESS=off turns the metrics endpoint off', () => {
    assert.equal(parseEnv({ WORKER_METRICS_ADDRESS: 'off' }).WORKER_METRICS_ADDRESS, 'off');
  });
});

describe('runbook JSON Schema', () => {
  test('the committed schema is what the zod schema generates (run `npm run schema` after changing it)', () => {
    assert.equal(readFileSync(schemaPath, 'utf8'), runbookJsonSchema());
  });

  test('the schema names the fields an editor should offer', () => {
    const schema = JSON.parse(runbookJsonSchema());
    assert.deepEqual(schema.required, ['system', 'approvers', 'rto'], 'traffic and health may be left out');
    assert.equal(schema.additionalProperties, false);
    assert.ok(schema.properties.health.properties.thresholds.properties.p95Ms);
    assert.ok(schema.properties.gates.propertyNames.anyOf[0].enum.includes('before-phase'), 'gate names are offered');
    assert.deepEqual(schema.properties.gates.propertyNames.anyOf.slice(1), [{ pattern: '^before-phase-[0-9]+$' }], 'one gate per phase, by its id');
    const actionKeys = schema.properties.phases.items.properties.rollback.items.anyOf.map((a: { required: string[] }) => a.required[0]);
    assert.deepEqual(actionKeys, ACTION_KINDS, 'every action kind of the registry is offered, in its order');
  });
});

describe('Temporal CLI resolution', () => {
  const saved = { path: process.env.PATH, explicit: process.env.TEMPORAL_CLI_PATH };
  const restore = () => {
    process.env.PATH = saved.path;
    if (saved.explicit === undefined) delete process.env.TEMPORAL_CLI_PATH;
    else process.env.TEMPORAL_CLI_PATH = saved.explicit;
  };

  test('TEMPORAL_CLI_PATH wins, and a wrong one is an error naming it', async () => {
    const fake = mkdtempSync(join(tmpdir(), 'cli-'));
    try {
      writeFileSync(join(fake, 'temporal'), '#!/bin/sh\necho "temporal version 9.9.9"\n');
      chmodSync(join(fake, 'temporal'), 0o755);
      process.env.TEMPORAL_CLI_PATH = join(fake, 'temporal');
      assert.deepEqual(await resolveTemporalCli(), { path: join(fake, 'temporal'), version: 'temporal version 9.9.9', source: 'TEMPORAL_CLI_PATH' });
      process.env.TEMPORAL_CLI_PATH = join(fake, 'missing');
      await assert.rejects(resolveTemporalCli(), { message: `TEMPORAL_CLI_PATH=${join(fake, 'missing')} is not an executable file` });
    } finally {
      restore();
      rmSync(fake, { recursive: true, force: true });
    }
  });

  test('a temporal on PATH comes before the project cache', async () => {
    const fake = mkdtempSync(join(tmpdir(), 'cli-'));
    try {
      writeFileSync(join(fake, 'temporal'), '#!/bin/sh\necho "temporal version 8.8.8"\n');
      chmodSync(join(fake, 'temporal'), 0o755);
      delete process.env.TEMPORAL_CLI_PATH;
      process.env.PATH = `${fake}:${saved.path}`;
      assert.equal((await resolveTemporalCli()).source, 'PATH');
    } finally {
      restore();
      rmSync(fake, { recursive: true, force: true });
    }
  });

  test('with nothing on PATH the cached build is used at once, without building again', async () => {
    try {
      delete process.env.TEMPORAL_CLI_PATH;
      process.env.PATH = '/usr/bin:/bin'; // no go, no temporal
      const lines: string[] = [];
      const cli = await resolveTemporalCli((line) => lines.push(line));
      assert.deepEqual([cli.source, cli.path, lines], ['cache', join(cacheDir, 'temporal'), []]);
      assert.match(cli.version, /Server 1\.29\.1/);
    } finally {
      restore();
    }
  });
});
