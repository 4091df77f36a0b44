/** docs/runbook-reference.md: the runbook schema (src/runbook/schema.ts) field by field, the gates, and each action kind of the registry (src/actions/). */
import { ACTION_KINDS, ACTIONS } from '../../src/actions/index.ts';
import { GATES } from '../../src/contract/index.ts';
import { CAPABILITY_NAMES, providersOf } from '../../src/providers/index.ts';
import { runbookSchema } from '../../src/runbook/schema.ts';
import { generatedBy, prose, code, table, page } from './markdown.ts';
import { jsonSchemaOf, SchemaReader, fieldRows, sentence, FIELD_HEADERS } from './schema-fields.ts';

const repeatSafety = (safe: boolean | 'runbook' | 'provider') => (safe === true ? 'yes' : safe === false ? 'no' : safe === 'runbook' ? 'as the runbook says' : 'as the provider says');
const sourceOf = (kind: string) => `../src/actions/${kind}.ts`;

export function runbookReference(): string {
  const schema = jsonSchemaOf(runbookSchema);
  const reader = new SchemaReader(schema);
  const top = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const sections = top.filter(([, raw]) => {
    const prop = reader.resolve(raw);
    return !!(prop.properties || reader.recordValue(prop) || prop.items || prop.anyOf || prop.oneOf);
  });

  const lines: (string | null)[] = [
    generatedBy('src/runbook/schema.ts, src/contract/names.ts and src/actions/'),
    '# Runbook reference',
    '',
    "Every field of a runbook file, as the worker's loader (the zod schema in [src/runbook/schema.ts](../src/runbook/schema.ts)) accepts it, and every kind of action a phase can list, from the action registry ([src/actions/](../src/actions/index.ts)). How to write one, with examples, is in [Writing a runbook](runbooks.md); the settings of each provider are in [Providers](providers.md). Editors check runbooks against the JSON Schema generated from the same zod schema (`schemas/runbook.schema.json`, `npm run schema`).",
    '',
    'Paths: `a.b` is field `b` of `a`; `<name>` is a key you choose (a role, a gate, a database); `[]` is each item of a list. "in its form": required in the form of the union that has it.',
    '',
    '## Top level',
    '',
    table(
      ['field', 'type', 'required', 'description'],
      top.map(([name, raw]) => {
        const prop = reader.resolve(raw);
        const linked = sections.some(([s]) => s === name) ? `[${code(name)}](#${name.toLowerCase()})` : code(name);
        return [linked, code(reader.typeOf(prop)), required.has(name) ? 'yes' : '', prose(prop.description ?? '')];
      }),
    ),
  ];

  for (const [name, raw] of sections) {
    const prop = reader.resolve(raw);
    lines.push('', `## ${code(name)}`, '');
    if (prop.description) lines.push(sentence(prop.description), '');
    // The section's own row first (its type and default; its description is the paragraph above), then every field inside it.
    const fields = reader.fields({ properties: { [name]: raw }, required: required.has(name) ? [name] : [] }, '');
    fields[0]!.description = '';
    lines.push(table(FIELD_HEADERS, fieldRows(fields, true)));
    if (name === 'gates') {
      lines.push(
        '',
        'The gates a runbook may configure are the ones the workflows stop at ([src/contract/names.ts](../src/contract/names.ts)); any other name is refused when the runbook loads, with the closest one:',
        '',
        table(
          ['gate', 'workflow', 'stops'],
          Object.entries(GATES).flatMap(([workflow, gates]) => Object.entries(gates).map(([gate, what]) => [code(gate), code(workflow), prose(what)])),
        ),
      );
    }
  }

  lines.push(
    '',
    '## Action kinds',
    '',
    "A phase's `rollback:` lists actions, each of one kind; a kind is one module in [src/actions/](../src/actions/index.ts) declaring its runbook form, the capability its provider needs, how its value is captured, planned and carried out, and whether repeating it is safe. `provider:` names a provider under `providers:`; it may be left out where exactly one of the runbook's providers offers the capability. Kinds whose capability is 'none' name their resource themselves (a database under `databases:`, a keyspace under `keyspaces:`).",
    '',
    table(
      ['kind', 'provider capability', 'providers that offer it', 'safe to repeat'],
      ACTION_KINDS.map((kind) => {
        const module = ACTIONS[kind];
        return [
          `[${code(kind)}](#${kind})`,
          module.capability ? CAPABILITY_NAMES[module.capability] : 'none',
          module.capability ? providersOf(module.capability).sort().map((id) => `[${code(id)}](providers.md#${id})`).join(', ') : '',
          repeatSafety(module.repeat.safe),
        ];
      }),
    ),
  );
  for (const kind of ACTION_KINDS) {
    const module = ACTIONS[kind];
    const kindSchema = jsonSchemaOf(module.schema());
    lines.push('', `### ${code(kind)}`, '');
    lines.push(
      `- Provider capability: ${module.capability ? `${CAPABILITY_NAMES[module.capability]} (${providersOf(module.capability).sort().map((id) => `[${code(id)}](providers.md#${id})`).join(', ')})` : 'none: the action names its resource itself'}.`,
      `- Safe to repeat: ${repeatSafety(module.repeat.safe)}: ${prose(module.repeat.why)}.`,
      module.undoLast ? '- Undone after the other changes of its set, so what they put back is what it loads.' : null,
      `- Module: [src/actions/${kind}.ts](${sourceOf(kind)}).`,
      '',
      table(FIELD_HEADERS, fieldRows(new SchemaReader(kindSchema).fields(kindSchema, ''), false)),
    );
  }
  return page(lines);
}
