/**
 * A compose file as the docker-compose provider reads and edits it: parsed with the YAML library, a
 * service's own `image:` value found (and refused, with why, when it is built, an alias, or made of
 * variables), and that one value replaced in the original text, every other byte kept. Compose files
 * can hold secrets (environment values), so errors name positions and image references only, never
 * the file's text.
 *
 * References: https://docs.docker.com/reference/compose-file/services/#image, https://eemeli.org/yaml/
 */
import { isAlias, isMap, isScalar, parseDocument, type Scalar } from 'yaml';

export type ComposeDocument = ReturnType<typeof parseDocument>;

/** The `image:` node of a service in a compose file, and where its value sits in the text. */
export interface ImageLine {
  value: string;
  node: Scalar;
}

/** Why a compose file cannot be rolled back by this provider; the message is safe to show. */
export class ComposeFileError extends Error {}

/** YAML errors quote the offending lines; only the position is safe to show. */
export function parseCompose(text: string, where: string): ComposeDocument {
  const doc = parseDocument(text, { keepSourceTokens: false });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    throw new ComposeFileError(`${where} is not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}: ${error.code}`);
  }
  return doc;
}

/** The services the file defines, in its order; none when it has no `services:` map. */
export function serviceNames(doc: ComposeDocument): string[] {
  const services = doc.get('services', true);
  return isMap(services) ? services.items.map((pair) => String(isScalar(pair.key) ? pair.key.value : pair.key)) : [];
}

/** The service's own `image:` value; undefined when the file has no such service. */
export function imageLine(doc: ComposeDocument, service: string, where: string): ImageLine | undefined {
  if (!serviceNames(doc).includes(service)) return undefined;
  const node = doc.getIn(['services', service, 'image'], true);
  if (node === undefined) throw new ComposeFileError(`service ${service} in ${where} has no image: of its own (built, or taken from an anchor or extends); roll it back by hand`);
  if (isAlias(node)) throw new ComposeFileError(`service ${service} in ${where} takes its image: from a YAML alias; roll it back by hand`);
  if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') throw new ComposeFileError(`service ${service} in ${where} has an image: that is not a plain string`);
  if (node.value.includes('$')) throw new ComposeFileError(`service ${service} in ${where} has an image: built from variables (${node.value}); set the variable instead`);
  return { value: node.value, node };
}

/** An image reference as YAML text in the style the line already had, so only the value changes. */
function yamlValue(reference: string, style: Scalar['type']): string {
  if (style === 'QUOTE_SINGLE') return `'${reference.replaceAll("'", "''")}'`;
  if (style === 'QUOTE_DOUBLE' || !/^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/.test(reference)) return JSON.stringify(reference);
  return reference;
}

/**
 * The compose text with only the service's image value replaced. The YAML library finds the value's
 * exact span in the source (so comments, anchors, quoting and layout elsewhere are understood, not
 * guessed by a regex), and the new value is spliced into the original text there: every other byte is
 * kept as it was, which re-serialising the document would not guarantee.
 */
export function withImage(text: string, line: ImageLine, reference: string): string {
  const [start, end] = line.node.range ?? [];
  if (start === undefined || end === undefined) throw new ComposeFileError('the image: value has no position in the file');
  return text.slice(0, start) + yamlValue(reference, line.node.type) + text.slice(end);
}
