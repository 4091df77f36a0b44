/**
 * Each provider's settings as JSON Schema and as a list of fields, from its zod schema: for
 * `rollback providers`, the README's provider table and the runbook JSON Schema editors validate
 * against. One source, so the docs cannot drift from what the runbook loader accepts.
 */
import { z } from 'zod';
import { PROVIDERS, type AnyProvider } from './index.ts';

export interface SettingDoc {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

type JsonSchema = { type?: string | string[]; enum?: unknown[]; const?: unknown; default?: unknown; description?: string; items?: JsonSchema; anyOf?: JsonSchema[]; properties?: Record<string, JsonSchema>; required?: string[]; additionalProperties?: JsonSchema | boolean; format?: string };

/** The settings as a person writes them (defaults optional). */
export function settingsJsonSchema(provider: AnyProvider): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- $schema belongs at the top of the runbook schema, not inside it
  const { $schema, ...schema } = z.toJSONSchema(provider.settingsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return schema;
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' | ');
  if (schema.type === 'array') return `${schema.items ? typeOf(schema.items) : 'any'}[]`;
  if (schema.type === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') return `{ name: ${typeOf(schema.additionalProperties)} }`;
  if (schema.format === 'uri') return 'url';
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
}

export function settingsOf(provider: AnyProvider): SettingDoc[] {
  const schema = settingsJsonSchema(provider) as JsonSchema;
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, field]) => ({
    name,
    type: typeOf(field),
    required: required.has(name),
    ...(field.default !== undefined ? { default: field.default } : {}),
    ...(field.description ? { description: field.description } : {}),
  }));
}

export function allProviders(): AnyProvider[] {
  return [...PROVIDERS.values()].sort((a, b) => a.id.localeCompare(b.id));
}
