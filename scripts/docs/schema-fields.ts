/** A zod schema read as rows of fields (through z.toJSONSchema): name, type, whether required, default, description. */
import { z } from 'zod';
import { ACTION_KINDS } from '../../src/actions/index.ts';
import { prose, code } from './markdown.ts';

export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  format?: string;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
}

export interface Field {
  path: string;
  type: string;
  required: 'yes' | 'in its form' | '';
  default?: unknown;
  description: string;
}

/** Beyond these, a bound is zod's "any safe integer", not a limit anyone set. */
export const SAFE = Number.MAX_SAFE_INTEGER;

export const jsonSchemaOf = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

export class SchemaReader {
  constructor(private readonly top: JsonSchema) {}

  resolve(schema: JsonSchema): JsonSchema {
    if (!schema.$ref) return schema;
    const name = /^#\/\$defs\/(.+)$/.exec(schema.$ref)?.[1];
    const target = name === undefined ? undefined : this.top.$defs?.[name];
    if (!target) throw new Error(`generate-docs: cannot follow ${schema.$ref}`);
    return { ...target, ...schema, $ref: undefined };
  }

  /** A map keyed by names a person chooses (`gates: {before-swap: ...}`): its value schema. */
  recordValue(schema: JsonSchema): JsonSchema | null {
    const value = schema.additionalProperties;
    return !schema.properties && value && typeof value === 'object' && Object.keys(value).length > 0 ? this.resolve(value) : null;
  }

  variants(schema: JsonSchema): JsonSchema[] | null {
    const variants = schema.anyOf ?? schema.oneOf;
    return variants ? variants.map((v) => this.resolve(v)) : null;
  }

  typeOf(raw: JsonSchema): string {
    const schema = this.resolve(raw);
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (isAction(schema)) return 'action';
    const variants = this.variants(schema);
    if (variants) {
      return variants.map((v) => (v.properties ? `{${Object.keys(v.properties).join(', ')}}` : this.typeOf(v))).join(' | ');
    }
    const value = this.recordValue(schema);
    if (value) return `map of name -> ${this.typeOf(value)}`;
    if (schema.type === 'array') {
      const item = schema.items ? this.typeOf(schema.items) : 'any';
      return `${/[ ,|]/.test(item) ? `(${item})` : item}[]${schema.minItems ? `, at least ${schema.minItems}` : ''}`;
    }
    if (schema.properties) return 'object';
    if (schema.format === 'uri') return 'url';
    if (schema.format === 'date-time') return 'ISO 8601 time';
    const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
    return `${type}${bounds(schema)}`;
  }

  /** Every field under `schema`, depth first, each with its dotted path (`<name>` for a map key, `[]` for a list item). */
  fields(schema: JsonSchema, path: string, out: Field[] = [], form: { of: number } | null = null): Field[] {
    const resolved = this.resolve(schema);
    const required = new Set(resolved.required ?? []);
    for (const [name, raw] of Object.entries(resolved.properties ?? {})) {
      const prop = this.resolve(raw);
      const at = path ? `${path}.${name}` : name;
      const isRequired = required.has(name) ? (form && form.of > 1 ? 'in its form' : 'yes') : '';
      const providerRef = name === 'provider' && resolved.properties?.settings !== undefined;
      const settingsRef = name === 'settings' && resolved.properties?.provider !== undefined;
      const description = providerRef ? 'a provider id (see providers.md)' : settingsRef ? "that provider's settings (see providers.md)" : (prop.description ?? '');
      add(out, { path: at, type: providerRef ? 'provider id' : this.typeOf(prop), required: isRequired, ...(prop.default !== undefined && { default: prop.default }), description });
      if (!settingsRef) this.inside(prop, at, out);
    }
    return out;
  }

  /** The fields inside a field: an object's, a map value's, a list item's, each form of a union's. */
  private inside(schema: JsonSchema, path: string, out: Field[]): void {
    if (isAction(schema)) return; // an action is one of the kinds, each documented under "Action kinds"
    if (schema.properties) {
      this.fields(schema, path, out);
      return;
    }
    const value = this.recordValue(schema);
    if (value) {
      // A map of plain values (`approvers: {oncall: [alice, bob]}`) is said in full by its own type.
      if (value.properties || this.variants(value)) this.inside(value, `${path}.<name>`, out);
      return;
    }
    if (schema.type === 'array' && schema.items) {
      const item = this.resolve(schema.items);
      if (item.properties || this.variants(item) || this.recordValue(item)) this.inside(item, `${path}[]`, out);
      return;
    }
    const variants = this.variants(schema);
    if (variants) for (const variant of variants.filter((v) => v.properties)) this.fields(variant, path, out, { of: variants.length });
  }
}

/** A runbook action: a union whose forms are the registry's kinds. */
export function isAction(schema: JsonSchema): boolean {
  const variants = schema.anyOf ?? schema.oneOf;
  return !!variants && variants.length === ACTION_KINDS.length && variants.every((v) => ACTION_KINDS.some((kind) => v.properties?.[kind]));
}

export function bounds(schema: JsonSchema): string {
  const low = schema.exclusiveMinimum !== undefined ? `above ${schema.exclusiveMinimum}` : schema.minimum !== undefined && schema.minimum > -SAFE ? `at least ${schema.minimum}` : null;
  const high = schema.exclusiveMaximum !== undefined ? `below ${schema.exclusiveMaximum}` : schema.maximum !== undefined && schema.maximum < SAFE ? `at most ${schema.maximum}` : null;
  if (schema.minimum !== undefined && schema.maximum !== undefined && low?.startsWith('at least') && high?.startsWith('at most')) return `, ${schema.minimum} to ${schema.maximum}`;
  return [low, high].filter(Boolean).map((b) => `, ${b}`).join('');
}

/** The same path from two forms of a union (a `method` each form fixes) is one row naming every form. */
export function add(out: Field[], field: Field): void {
  const seen = out.find((f) => f.path === field.path);
  if (!seen) {
    out.push(field);
    return;
  }
  if (!seen.type.split(' | ').includes(field.type)) seen.type = `${seen.type} | ${field.type}`;
  if (field.description && !seen.description.includes(field.description)) seen.description = [seen.description, field.description].filter(Boolean).join('; ');
}

export function fieldRows(fields: Field[], linkActions: boolean): string[][] {
  return fields.map((f) => [
    code(f.path),
    `${code(f.type)}${linkActions && f.type.includes('action') ? ' ([kinds](#action-kinds))' : ''}`,
    f.required,
    f.default === undefined ? '' : shortDefault(f.default),
    prose(f.description),
  ]);
}

/** A default as JSON; an object's is spelt out by its own fields' rows. */
export function shortDefault(value: unknown): string {
  const json = JSON.stringify(value);
  return value && typeof value === 'object' && !Array.isArray(value) && json.length > 40 ? "its fields' defaults" : code(json);
}

/** A description as a sentence of prose: capital first, full stop last. */
export function sentence(text: string): string {
  const body = prose(text);
  return `${body.charAt(0).toUpperCase()}${body.slice(1)}${/[.!?]$/.test(body) ? '' : '.'}`;
}

export const FIELD_HEADERS = ['field', 'type', 'required', 'default', 'description'];
