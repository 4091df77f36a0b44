/**
 * `rollback import <file.md>`: a team's markdown runbook -> a draft runbook YAML and a report of what
 * every command line became. Offline: it reads one file and writes at most two, refusing to overwrite.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { systemName } from '../contract/index.ts';
import { ImportRefused, importMarkdown, readMarkdownText, reportMarkdown } from '../import/index.ts';
import { parseCommand, positionals, UsageError } from './args.ts';

export const importUsage = `Usage: rollback import <file.md> [--system <name>] [--out <runbook.yaml>] [--report <file>] [--force]

Reads a markdown runbook (offline) and writes a draft runbook: each command line becomes a typed
action, is absorbed into the snapshot or dry run (read-only), is kept as a command action marked
REVIEW, or is left out with the reason; destructive lines are never emitted live. Every item cites
its source line. Values the document does not hold are <FILL: ...> placeholders, which the loader
refuses until they are filled.

  <file.md>          the markdown runbook
  --system <name>    the system's name (default: from the file name)
  --out <file>       where the draft goes (default: printed)
  --report <file>    the report: JSON when the name ends in .json, markdown otherwise (default: a summary on stderr)
  --force            overwrite --out and --report files that exist`;

export async function importRunbook(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, {
    system: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'string' },
    force: { type: 'boolean' },
  });
  const [file] = positionals(given, ['<file.md>']);
  const system = values.system ?? basename(file!).replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const name = systemName.safeParse(system);
  if (!name.success) throw new UsageError(`--system '${system}' ${name.error.issues[0]?.message ?? 'is not a system name'}`);
  for (const target of [values.out, values.report]) {
    if (target && existsSync(target) && !values.force) throw new UsageError(`${target} exists; give another name or --force`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file!);
  } catch (err) {
    console.error(`rollback import: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return 1;
  }
  let text: string;
  try {
    text = readMarkdownText(bytes, file!);
  } catch (err) {
    if (!(err instanceof ImportRefused)) throw err;
    console.error(`rollback import: ${err.message}`);
    return 1;
  }
  const { yaml, report } = importMarkdown(text, { file: basename(file!), system });
  if (values.out) writeFileSync(values.out, yaml);
  else process.stdout.write(yaml);
  if (values.report) writeFileSync(values.report, values.report.endsWith('.json') ? `${JSON.stringify(report, null, 2)}\n` : reportMarkdown(report));
  const c = report.counts;
  console.error(
    `rollback import: ${c.total} command lines: ${c.typed} typed, ${c.absorbed} absorbed, ${c.opaque} opaque (REVIEW), ${c.unmapped} unmapped, ${c.destructive} destructive (not emitted live); ` +
      `${report.thresholds.length} thresholds, ${report.gates.length} gates, ${report.rto.length} RTO targets; ${report.placeholders.length} placeholders to fill.` +
      `${report.warnings.map((w) => `\nwarning: ${w}`).join('')}${values.out ? `\nNext: fill the <FILL: ...> values in ${values.out}, then rollback validate ${values.out}` : ''}`,
  );
  return 0;
}
