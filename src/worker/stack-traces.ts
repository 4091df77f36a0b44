/**
 * An activity's stack trace names our source files and lines (`at apiFailure
 * (/path/to/checkout/src/providers/http-api.ts:88:12)`), not lines of the built file the worker runs:
 * the frames of that one file are mapped through the source map worker-build.ts writes beside it.
 *
 * Why not node's --enable-source-maps: with it node reads and keeps the source map of every module it
 * loads, and the npm packages ship theirs with their whole sources inside (redis, zod, the Temporal
 * SDK): about 20 MB of a worker's resident memory across its two isolates, idle or busy
 * (`npm run bench:capacity`, `npm run bench:source-maps`). Only our own build's frames needed mapping.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The map a built file names in its last `//# sourceMappingURL=` comment, as a path beside it; null if none. */
function mapPathOf(builtFile: string, code: string): string | null {
  const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(code)?.[1];
  if (!url || url.startsWith('data:')) return null;
  return resolve(dirname(builtFile), url);
}

/**
 * From now on, every stack trace read in this process (this isolate: the workflows' thread keeps the
 * SDK's own mapping through the workflow bundle's map) shows the frames of `builtFile` at their source
 * file and line. Returns false, changing nothing, when the file names no map or the map cannot be read
 * (the worker then still runs, its traces naming the built file).
 */
export function mapStackTracesOf(builtFile: string): boolean {
  let payload: ConstructorParameters<typeof SourceMap>[0];
  let mapDir: string;
  try {
    const mapPath = mapPathOf(builtFile, readFileSync(builtFile, 'utf8'));
    if (!mapPath) return false;
    payload = JSON.parse(readFileSync(mapPath, 'utf8')) as typeof payload;
    if (payload?.version !== 3 || typeof payload.mappings !== 'string') return false;
    mapDir = dirname(mapPath);
  } catch {
    return false;
  }
  // Its mappings are decoded when the first stack trace is read, not by a worker that never fails.
  let map: SourceMap | undefined;
  // A frame names an ES module by its URL, a CommonJS one by its path.
  const builtNames = new Set([builtFile, pathToFileURL(builtFile).href]);
  const sourcePaths = new Map<string, string>();
  const sourcePath = (source: string) => {
    let path = sourcePaths.get(source);
    if (path === undefined) {
      path = source.startsWith('file:') ? fileURLToPath(source) : resolve(mapDir, source);
      sourcePaths.set(source, path);
    }
    return path;
  };

  const frame = (site: NodeJS.CallSite): string => {
    const text = String(site);
    const file = site.getFileName();
    const line = site.getLineNumber();
    const column = site.getColumnNumber();
    if (!file || !builtNames.has(file) || line === null || column === null) return text;
    map ??= new SourceMap(payload);
    const entry = map.findEntry(line - 1, column - 1);
    if (!('originalSource' in entry)) return text;
    // Node's own text for the frame (async, new, method and alias names), with the location replaced.
    return text.replace(`${file}:${line}:${column}`, `${sourcePath(entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`);
  };

  Error.prepareStackTrace = (error: Error, sites: NodeJS.CallSite[]) => {
    let head: string;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = '<error>';
    }
    return sites.length === 0 ? head : `${head}\n${sites.map((site) => `    at ${frame(site)}`).join('\n')}`;
  };
  return true;
}
