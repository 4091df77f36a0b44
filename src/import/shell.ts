/**
 * Shell text -> commands, through a real bash parser (unbash): quoting, `$VAR`, pipes, `&&`, here-docs
 * and line continuations are the parser's business, never a split on spaces. Each statement of a block
 * is one command line of the runbook, with the commands of its pipelines, their words as the shell
 * would pass them, the variables they set and read, their redirections and here-doc bodies.
 */
import { parse, type Command } from 'unbash';

export interface ShellCommand {
  argv: string[];
  /** VAR=value words before the program. */
  assignments: Record<string, string>;
  /** Variables the words read ($VAR, ${VAR}), by name. */
  envRefs: string[];
  redirects: { op: string; target: string }[];
  heredoc: string | null;
}

export interface CommandLine {
  /** Line in the markdown file. */
  line: number;
  /** The statement as written (continuations joined). */
  text: string;
  /** The comment lines just above it in the block, nearest last. */
  comments: string[];
  /** Every simple command of the statement, in order; `pipes[i]` says how command i+1 is joined to command i. */
  commands: ShellCommand[];
  joins: string[];
  /** Loops and conditionals: the statement wraps its commands in shell control flow. */
  compound: boolean;
}

/** Documentation placeholders (`<deployment-id>`, `<good-commit-hash>`) read as words, not redirections. */
const ANGLE_PLACEHOLDER = /<([A-Za-z][A-Za-z0-9 _.-]{0,60})>/g;
export const PLACEHOLDER_WORD = /^⟨(.+)⟩$/;

function envRefsOf(text: string): string[] {
  return [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

type AnyNode = { type: string; [key: string]: unknown };

function simpleCommand(node: Command): ShellCommand {
  const argv: string[] = [];
  const assignments: Record<string, string> = {};
  const redirects: { op: string; target: string }[] = [];
  const refs: string[] = [];
  let heredoc: string | null = null;
  if (node.name) {
    argv.push(node.name.value);
    refs.push(...envRefsOf(node.name.text));
  }
  for (const item of [...node.prefix, ...node.suffix]) {
    if (item.type === 'Assignment') {
      const value = item.value.type === 'Word' ? item.value.value : '';
      if (argv.length === 0) assignments[item.name] = value;
      else argv.push(item.text);
      refs.push(...envRefsOf(item.text));
    } else if (item.type === 'Word') {
      argv.push(item.value);
      refs.push(...envRefsOf(item.text));
    } else if (item.type === 'HereDoc') {
      heredoc = item.body.text;
      redirects.push({ op: item.operator, target: item.delimiter?.value ?? '' });
    } else {
      redirects.push({ op: item.operator, target: item.target?.value ?? '' });
    }
  }
  return { argv, assignments, envRefs: [...new Set(refs)], redirects, heredoc };
}

/** Collects the simple commands under a node (not inside substitutions: `$(date)` is part of a word). */
function collect(node: AnyNode, into: { commands: ShellCommand[]; joins: string[]; compound: boolean }, join: string): void {
  switch (node.type) {
    case 'Command':
      if ((node as unknown as Command).name || (node as unknown as Command).prefix.length > 0) {
        if (into.commands.length > 0) into.joins.push(join);
        into.commands.push(simpleCommand(node as unknown as Command));
      }
      return;
    case 'Pipeline': {
      const commands = node.commands as AnyNode[];
      const ops = node.operators as string[];
      commands.forEach((c, i) => collect(c, into, i === 0 ? join : (ops[i - 1] ?? '|')));
      return;
    }
    case 'AndOr': {
      const commands = node.commands as AnyNode[];
      const ops = node.operators as string[];
      commands.forEach((c, i) => collect(c, into, i === 0 ? join : (ops[i - 1] ?? '&&')));
      return;
    }
    case 'Statement':
      collect(node.command as AnyNode, into, join);
      return;
    default: {
      into.compound = true;
      // Loops, conditionals, subshells and groups: their bodies' commands belong to this line.
      for (const value of Object.values(node)) {
        const children = Array.isArray(value) ? value : [value];
        for (const child of children) {
          if (child && typeof child === 'object' && 'type' in child && typeof (child as AnyNode).type === 'string' && !['Word', 'Assignment'].includes((child as AnyNode).type)) {
            collect(child as AnyNode, into, ';');
          }
        }
      }
    }
  }
}

/** `$ fly status` in a console block: the prompt is not part of the command. */
function withoutPrompts(text: string): string {
  return text.replace(/^(\s*)\$ /gm, '$1');
}

/**
 * The command lines of a shell block whose first line is `firstLine` of the markdown file. A block the
 * parser cannot read (an unbalanced quote) still yields what it recovered, and `errors` says where.
 */
export function readShell(block: string, firstLine: number): { lines: CommandLine[]; errors: string[] } {
  const source = withoutPrompts(block).replace(ANGLE_PLACEHOLDER, (_m, name: string) => `⟨${name.replace(/ /g, '_')}⟩`);
  const script = parse(source);
  const lineAt = (offset: number): number => firstLine + (source.slice(0, offset).match(/\n/g)?.length ?? 0);
  const rawLines = source.split('\n');
  const lines: CommandLine[] = [];
  for (const statement of script.commands) {
    const into = { commands: [] as ShellCommand[], joins: [] as string[], compound: false };
    collect(statement as unknown as AnyNode, into, '');
    if (into.commands.length === 0) continue;
    const line = lineAt(statement.pos);
    const comments: string[] = [];
    for (let i = line - firstLine - 1; i >= 0; i--) {
      const raw = (rawLines[i] ?? '').trim();
      if (!raw.startsWith('#')) break;
      comments.unshift(raw.replace(/^#+\s*/, ''));
    }
    const text = source.slice(statement.pos, statement.end).replace(/\\\n\s*/g, '').replace(/⟨([^⟩]+)⟩/g, '<$1>');
    lines.push({ line, text: text.split('\n')[0]!.trim(), comments, ...into });
  }
  const errors = (script.errors ?? []).map((e) => `line ${lineAt(e.pos)}: ${e.message}`);
  return { lines, errors };
}
