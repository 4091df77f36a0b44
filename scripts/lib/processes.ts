/**
 * Child processes of the main job: each in its own process group (so its own children go with it),
 * its output prefixed with its name, and stopped with SIGTERM, then SIGKILL after a grace time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { redactCredentials } from '../../src/contract/index.ts';

export interface Service {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function startService(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Service {
  const child = spawn(command, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      onLine?.(line);
      // Whatever a service prints, a URL's password or token never reaches the terminal.
      console.log(`[${name}] ${redactCredentials(line)}`);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { name, child, exited };
}

export async function stopService(service: Service, graceMs = 15_000): Promise<void> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  const group = -service.child.pid!;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }, graceMs);
  await service.exited;
  clearTimeout(timer);
}
