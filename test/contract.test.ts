/**
 * The contract (src/contract): the names outsiders type are one list, and the worker, the workflows,
 * the CLI, the runbook schema and the README agree with it. Also the parsing of what people send a
 * rollback (signal payloads, names), which must never throw and must say what is wrong.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GATES, gateNames, INTERNAL_WORKFLOWS, parseSignalPayload, phaseGate, releaseGates, preview, ROLLBACK_WORKFLOWS, SIGNALS, WATCH_WORKFLOWS, WATCHDOG_SIGNALS, WORKFLOW_TYPES } from '../src/contract/index.ts';
import * as registered from '../src/workflows/index.ts';
import { runCli } from './rollback-harness.ts';
import { abortSignal, approveSignal, decideSignal, rejectSignal } from '../src/contract/messages.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

describe('contract', () => {
  test('the worker registers exactly the workflow types of the contract, and a default that refuses any other type', () => {
    const { default: unknownType, ...named } = registered;
    assert.deepEqual(Object.keys(named).sort(), [...WORKFLOW_TYPES].sort());
    assert.equal(typeof unknownType, 'function', 'the SDK runs the default export for a type nobody registers');
  });

  test('the signals the workflows define are the contract’s, by name', () => {
    assert.deepEqual([approveSignal, rejectSignal, decideSignal, abortSignal].map((s) => s.name), [...SIGNALS]);
  });

  test('every gate the workflows ask for is in the contract, and every gate in the contract is asked for', () => {
    // Gates are named as string literals where a workflow or its plan asks for them: gate('before-cleanup'),
    // gates['gradual-step'], gate('before-kill-switch'); phase gates by phaseGate() in the contract.
    const sources = ['src/workflows', 'src/plan'].flatMap((dir) => readdirSync(`${root}${dir}`).filter((f) => f.endsWith('.ts')).map((f) => read(`${dir}/${f}`)));
    const asked = new Set(sources.flatMap((text) => [...text.matchAll(/(?:\.gate\(|gates\[|gate\()'([a-z-]+)'/g)].map((m) => m[1]!)));
    asked.add('before-phase').add('before-phase-<id>'); // phaseGate(), read by the phase plan
    asked.add('before-release').add('before-release-<target>'); // releaseGates(), read by release plans
    assert.deepEqual([...asked].sort(), [...gateNames().keys()].sort());
    assert.equal(phaseGate({ 'before-phase': {}, 'before-phase-3': {} }, 3), 'before-phase-3');
    assert.equal(phaseGate({ 'before-phase': {} }, 5), 'before-phase');
    assert.equal(phaseGate({}, 5), null);
    assert.deepEqual(releaseGates('api'), ['before-release-api', 'before-release']);
  });

  test('the CLI offers exactly the rollback workflows: another type is refused before anything starts', async () => {
    const help = await runCli('127.0.0.1:1', ['start', '--help']);
    assert.match(help.stdout, new RegExp(`<type> is one of ${ROLLBACK_WORKFLOWS.join(', ')}\\.`));
    const unknown = await runCli('127.0.0.1:1', ['start', 'canaryRollback', '--system', 'sandbox', '--reason', 'x', '--by', 'alice']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.split('\n')[0], `rollback start: unknown workflow type 'canaryRollback'; must be one of ${ROLLBACK_WORKFLOWS.join(', ')}`);
  });

  test('the README documents every rollback workflow, gate and signal, the watchdog, its signals and the lock', () => {
    const readme = read('README.md');
    for (const name of [...ROLLBACK_WORKFLOWS, ...gateNames().keys(), ...SIGNALS, ...WATCH_WORKFLOWS, ...WATCHDOG_SIGNALS, ...INTERNAL_WORKFLOWS]) assert.ok(readme.includes(`\`${name}\``), `README mentions \`${name}\``);
    for (const [workflow, gates] of Object.entries(GATES)) assert.ok(Object.keys(gates).length > 0, `${workflow} has gates`);
  });
});

describe('signal payloads', () => {
  test('a well-formed approval passes, with names and comments trimmed', () => {
    assert.deepEqual(parseSignalPayload('approve', { by: ' bob ', comment: ' ok ' }), { ok: true, payload: { by: 'bob', comment: 'ok' } });
    assert.deepEqual(parseSignalPayload('decide', { by: 'bob', action: 'compensate' }), { ok: true, payload: { by: 'bob', action: 'compensate' } });
  });

  test('each malformed payload is refused with a message naming the problem, and who it claims to be from', () => {
    const cases: [Parameters<typeof parseSignalPayload>[0], unknown, string, string][] = [
      ['approve', undefined, '(unknown)', 'approve: no payload; send JSON like {"by": "bob", "comment": "error rate back under 1%"}'],
      ['abort', null, '(unknown)', 'abort: no payload; send JSON like {"by": "bob", "reason": "wrong system"}'],
      ['approve', {}, '(unknown)', "approve: 'by' is required"],
      ['approve', { by: '   ' }, '(unknown)', "approve: 'by' must name a person"],
      ['approve', { by: 'bo\u0007b' }, '(unknown)', "approve: 'by' must not contain control characters"],
      ['approve', { by: 'b'.repeat(101) }, 'b'.repeat(100), "approve: 'by' must be at most 100 characters"],
      ['approve', { by: 'bob', comments: 'typo' }, 'bob', "approve: unknown key 'comments'"],
      ['decide', { by: 'bob', action: 'rollback' }, 'bob', `decide: 'action' must be one of: "retry", "skip", "compensate", "abort"; received "rollback"`],
      ['reject', { by: 'bob', reason: '' }, 'bob', "reject: 'reason' must say why"],
      ['abort', 'stop', '(unknown)', 'abort: the payload must be a JSON object like {"by": "bob", "reason": "wrong system"}'],
    ];
    for (const [signal, raw, by, why] of cases) assert.deepEqual(parseSignalPayload(signal, raw), { ok: false, by, why }, JSON.stringify(raw));
  });

  test('a bad value is echoed as a short prefix with its length, never whole', () => {
    assert.equal(preview('fast'), '"fast"');
    assert.equal(preview('x'.repeat(1 << 20)), `"${'x'.repeat(40)}…" (1048576 characters)`);
    assert.equal(preview('a\u0000b'), '"a\\u0000b"', 'control characters escaped');
    const refused = parseSignalPayload('decide', { by: 'bob', action: 'y'.repeat(5000) });
    assert.ok(!refused.ok && refused.why.length < 200, 'the refusal stays short');
  });
});
