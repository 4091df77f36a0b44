/**
 * Fills a draft's `<FILL: ...>` placeholders the way a reviewer would, from test/fixtures/import/fill.json
 * (keyed by the start of each placeholder's text), for the import tests.
 */
import { readFileSync } from 'node:fs';
import { isScalar, parseDocument, visit } from 'yaml';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/import/fill.json', import.meta.url), 'utf8')) as { values: Record<string, unknown> };

function valueFor(placeholder: string): unknown {
  const what = placeholder.slice('<FILL: '.length, -1);
  const key = Object.keys(fixture.values).find((k) => what.startsWith(k));
  if (key === undefined) throw new Error(`test/fixtures/import/fill.json has no value for ${placeholder}`);
  return fixture.values[key];
}

/** The draft with every placeholder replaced: a whole value by the fixture's value, part of a string by its text. */
export function fillPlaceholders(yaml: string): string {
  const doc = parseDocument(yaml);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('<FILL:')) return;
      const whole = /^<FILL: [^>]*>$/.exec(node.value);
      if (whole) {
        node.value = valueFor(node.value);
        return undefined;
      }
      node.value = node.value.replace(/<FILL: [^>]*>/g, (p) => String(valueFor(p)));
      return undefined;
    },
    Pair(_key, pair) {
      if (isScalar(pair.key) && typeof pair.key.value === 'string' && pair.key.value.startsWith('<FILL:')) pair.key.value = String(valueFor(pair.key.value));
    },
  });
  return doc.toString();
}
