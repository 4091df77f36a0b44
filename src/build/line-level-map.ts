/**
 * A source map cut down to line level: one mapping where the original line changes, instead of one per
 * token. Node's SourceMap (src/worker/stack-traces.ts) decodes every mapping of a map into an array
 * when it is made: esbuild's map of the worker has some 70,000 and cost 7 MB of heap, this one about
 * 14,000 and 1.4 MB (`npm run bench:source-maps`). A frame still names the source file and line; its
 * column becomes the first mapped column of that line. The workflow bundle's map is line-level too
 * (webpack's "cheap" maps: workflow-bundle-builder.ts).
 */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The numbers of one segment (base64 VLQ, as the source map format writes them). */
function decodeSegment(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    if (digit < 0) throw new Error(`not a source map segment: ${segment}`);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value % 2 === 1 ? -Math.floor(value / 2) : value / 2);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

function encodeValue(n: number): string {
  let value = n < 0 ? -n * 2 + 1 : n * 2;
  let out = '';
  do {
    let digit = value % 32;
    value = Math.floor(value / 32);
    if (value > 0) digit |= 32;
    out += BASE64[digit];
  } while (value > 0);
  return out;
}

/**
 * `mappings` (a source map's field) with, on each generated line, only the segments where the source
 * or original line changes; names are dropped (node names frames from the code, which keeps its names).
 */
export function lineLevelMappings(mappings: string): string {
  // Fields are deltas: the generated column from the line's previous segment, the rest from the
  // previous segment of the whole map. Read all of them, write the kept ones' deltas anew.
  let [source, line, column] = [0, 0, 0];
  let written = { source: 0, line: 0, column: 0 };
  return mappings
    .split(';')
    .map((generatedLine) => {
      let generatedColumn = 0;
      let writtenColumn = 0;
      let last: string | null = null;
      const kept: string[] = [];
      for (const segment of generatedLine ? generatedLine.split(',') : []) {
        const fields = decodeSegment(segment);
        generatedColumn += fields[0] ?? 0;
        if (fields.length < 4) continue; // a segment mapped to no source
        source += fields[1]!;
        line += fields[2]!;
        column += fields[3]!; // a fifth field, the name's index, is dropped with the names
        if (last === `${source}:${line}`) continue;
        last = `${source}:${line}`;
        kept.push(encodeValue(generatedColumn - writtenColumn) + encodeValue(source - written.source) + encodeValue(line - written.line) + encodeValue(column - written.column));
        writtenColumn = generatedColumn;
        written = { source, line, column };
      }
      return kept.join(',');
    })
    .join(';');
}

/** A source map's JSON cut down to line level (see above). */
export function lineLevelSourceMap(json: string): string {
  const map = JSON.parse(json) as { mappings: string; names?: string[] };
  return JSON.stringify({ ...map, names: [], mappings: lineLevelMappings(map.mappings) });
}
