/** docs/cli-reference.md: every usage text the `rollback` command prints, as it prints it. */
import { backupsUsage, backupUsage } from '../../src/cli/backup.ts';
import { drillUsage } from '../../src/cli/drill.ts';
import { importUsage } from '../../src/cli/import.ts';
import { listUsage } from '../../src/cli/list.ts';
import { providersUsage } from '../../src/cli/providers.ts';
import { planUsage } from '../../src/cli/plan.ts';
import { validateUsage } from '../../src/cli/validate.ts';
import { signalCommands } from '../../src/cli/signal.ts';
import { startUsage } from '../../src/cli/start.ts';
import { statusUsage } from '../../src/cli/status.ts';
import { rollbackUsage } from '../../src/cli/usage.ts';
import { watchUsage } from '../../src/cli/watch.ts';
import { workersUsage } from '../../src/cli/workers.ts';
import { generatedBy, code, page } from './markdown.ts';

export function cliReference(): string {
  const commands: [string, string][] = [
    ['start', startUsage],
    ['status', statusUsage],
    ...(Object.keys(signalCommands) as (keyof typeof signalCommands)[]).map((name): [string, string] => [name, signalCommands[name].usage]),
    ['list', listUsage],
    ['watch', watchUsage],
    ['drill', drillUsage],
    ['backup', backupUsage],
    ['backups', backupsUsage],
    ['providers', providersUsage],
    ['validate', validateUsage],
    ['plan', planUsage],
    ['workers', workersUsage],
    ['import', importUsage],
  ];
  const lines: string[] = [
    generatedBy("the usage texts of src/cli/ (usage.ts and each command's)"),
    '# CLI reference',
    '',
    'What `rollback help` and `rollback <command> --help` print. How to use the CLI, with examples, its exit codes and how it connects, is in [Operator CLI](operator-cli.md).',
    '',
    `Commands: ${commands.map(([name]) => `[${code(name)}](#rollback-${name})`).join(', ')}.`,
    '',
    '## `rollback`',
    '',
    '```text',
    rollbackUsage,
    '```',
  ];
  for (const [name, usage] of commands) lines.push('', `## ${code(`rollback ${name}`)}`, '', '```text', usage, '```');
  return page(lines);
}
