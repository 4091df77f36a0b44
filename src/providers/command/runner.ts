/**
 * The one way this project runs a program: an argument vector (never a shell string, so nothing in a
 * value is interpreted), a timeout, cancellation, and output line by line for heartbeats and reports.
 * The program runs in its own process group, so a timeout or cancel ends everything it started.
 */
import { spawn } from 'node:child_process';
import { redactCredentials } from '../../contract/index.ts';

export interface RunOptions {
  /** Environment of the program; the caller decides what it inherits. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Each line of output as it comes (stdout and stderr), with `secrets` masked. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Values never to show: each occurrence in output becomes ***. */
  secrets?: string[];
  /** How many of the last output lines to keep in the result. */
  keepLines?: number;
}

export interface RunResult {
  exitCode: number | null;
  /** The signal that ended it: ours (timeout, cancel) or another. */
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  /** The last lines of output, masked. */
  outputTail: string[];
}

/** Process groups of programs running now: ended with this process, whichever way it exits. */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function masker(secrets: string[]): (line: string) => string {
  const values = secrets.filter((s) => s.length >= 4);
  return (line) => redactCredentials(values.reduce((text, value) => text.split(value).join('***'), line));
}

/** `text` with each of `secrets` (and credentials in URLs) shown as ***, as output lines are. */
export function maskSecrets(text: string, secrets: string[]): string {
  return masker(secrets)(text);
}

/** Runs `argv` to completion; resolves whatever the exit code (the caller judges it); rejects only if it cannot start. */
export function runProgram(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const [program, ...args] = argv;
  if (!program) return Promise.reject(new Error('empty command'));
  const mask = masker(options.secrets ?? []);
  const keep = options.keepLines ?? 40;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(program, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) running.add(child.pid);
    let stdout = '';
    const tail: string[] = [];
    let timedOut = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const onAbort = () => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        if (name === 'stdout') stdout += text;
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const raw of lines) {
          const line = mask(raw);
          tail.push(line);
          if (tail.length > keep) tail.shift();
          options.onLine?.(line, name);
        }
      });
      stream.on('end', () => {
        if (partial) {
          const line = mask(partial);
          tail.push(line);
          if (tail.length > keep) tail.shift();
          options.onLine?.(line, name);
        }
      });
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${program} could not run: ${err.message}`));
    });
    child.on('close', (exitCode, signal) => {
      if (child.pid !== undefined) running.delete(child.pid);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode, signal, timedOut, durationMs: performance.now() - started, stdout, outputTail: tail });
    });
  });
}
