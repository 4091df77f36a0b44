/**
 * oneByteText (src/build/workflow-bundle-builder.ts): the workflow bundle's characters above U+00FF
 * become \u escapes that mean the same in JavaScript, so V8 keeps its source text at one byte per
 * character; an escape that would change the meaning (right after a backslash) refuses to build.
 */
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { test } from 'node:test';
import { oneByteText } from '../src/build/workflow-bundle-builder.ts';

test('strings, templates, regular expressions, names and comments mean the same once escaped; Latin-1 stays as it is', () => {
  const source = [
    '// a comment — with an em dash',
    'const café = "déjà vu → ✖ 😀";',
    'const template = `${café} … ok`;',
    'const pattern = /^[а-я]+→$/u;',
    'const ŝtato = 1;',
    'result = JSON.stringify({ café, template, matches: pattern.test("да→"), ŝtato, emoji: "😀".length });',
  ].join('\n');
  const escaped = oneByteText(source);
  assert.equal(/[^\u0000-\u00ff]/.exec(escaped), null);
  assert.ok(escaped.includes('café'), 'Latin-1 characters stay one byte as they are');
  assert.ok(escaped.includes('// a comment \\u2014 with an em dash'));
  const run = (code: string) => {
    const context: { result?: unknown } = {};
    vm.runInNewContext(code, context);
    return JSON.parse(context.result as string) as unknown;
  };
  assert.deepEqual(run(escaped), run(source));
  assert.deepEqual(run(escaped), { café: 'déjà vu → ✖ 😀', template: 'déjà vu → ✖ 😀 … ok', matches: true, ŝtato: 1, emoji: 2 });
});

test('a character right after a backslash refuses to build, naming it and where', () => {
  assert.throws(() => oneByteText('const s = "a\\→b";'), { message: 'the workflow bundle has a backslash before "→" at 13: escaping it would change its meaning' });
});
