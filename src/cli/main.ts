/**
 * `rollback`: the operator CLI for rollback workflows (start, status, approve, reject, decide, abort,
 * list, watch, drill, backup, backups, providers, workers, validate, plan). Written for 3 a.m.: every mistake is one line naming the problem plus the usage (exit 2),
 * a refusal by the workflow is said plainly (exit 3), and every answer says what to type next.
 */
import { EXIT_USAGE, UsageError } from './args.ts';
import { backup, backups, backupsUsage, backupUsage } from './backup.ts';
import { list, listUsage } from './list.ts';
import { sendSignal, sign, signalCommands } from './signal.ts';
import { signUsage } from './sign.ts';
import { start, startUsage } from './start.ts';
import { status, statusUsage } from './status.ts';
import { watch, watchUsage } from './watch.ts';
import { drill, drillUsage } from './drill.ts';
import { providers, providersUsage } from './providers.ts';
import { workers, workersUsage } from './workers.ts';
import { validateRunbook, validateUsage } from './validate.ts';
import { plan, planUsage } from './plan.ts';
import { importRunbook, importUsage } from './import.ts';
import { rollbackUsage as usage } from './usage.ts';

interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  start: { usage: startUsage, run: start },
  status: { usage: statusUsage, run: status },
  list: { usage: listUsage, run: list },
  watch: { usage: watchUsage, run: watch },
  drill: { usage: drillUsage, run: drill },
  backup: { usage: backupUsage, run: backup },
  backups: { usage: backupsUsage, run: backups },
  providers: { usage: providersUsage, run: providers },
  workers: { usage: workersUsage, run: workers },
  validate: { usage: validateUsage, run: validateRunbook },
  plan: { usage: planUsage, run: plan },
  import: { usage: importUsage, run: importRunbook },
  sign: { usage: signUsage, run: sign },
  ...Object.fromEntries(
    (Object.keys(signalCommands) as (keyof typeof signalCommands)[]).map((name) => [
      name,
      { usage: signalCommands[name].usage, run: (argv: string[]) => sendSignal(name, argv) },
    ]),
  ),
};

const isHelp = (arg: string) => arg === '--help' || arg === '-h';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) return usageError('missing command', usage);
  if (name === 'help' || isHelp(name)) {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : commands[topic];
    if (topic !== undefined && !command) return usageError(`unknown command '${topic}'`, usage);
    console.log(command?.usage ?? usage);
    return 0;
  }
  const command = commands[name];
  if (!command) return usageError(`unknown command '${name}'`, usage);
  // Everything after `--` is data (e.g. a reason starting with a dash), not a request for help.
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.some(isHelp)) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message, command.usage, name);
    throw err;
  }
}

function usageError(message: string, text: string, command?: string): number {
  console.error(`rollback${command ? ` ${command}` : ''}: ${message}`);
  console.error('');
  console.error(text);
  return EXIT_USAGE;
}

/**
 * `rollback status <id> | head`: once the reader has what it wants it closes the pipe, and the next
 * write fails with EPIPE. Nothing is wrong: stop quietly with status 0, as `git log | head` does.
 */
function stopQuietlyWhenTheReaderLeaves(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
}

async function run(): Promise<void> {
  stopQuietlyWhenTheReaderLeaves();
  process.exitCode = await main(process.argv.slice(2));
}

run().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
