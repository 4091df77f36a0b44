/**
 * Commands the runbook lists (seed 000's `python scripts/clear_rag_cache.py`, a platform CLI), run on
 * the worker's machine as argument vectors through the shared runner. The program sees only the
 * variables named here (PATH, HOME and the like) plus those the action maps from the worker's
 * environment by name, whose values are masked in everything it prints (stdout too, which a
 * `capture` keeps in the snapshot).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';
import type { ProviderDefinition } from '../types.ts';
import { maskSecrets, runProgram } from './runner.ts';

const settingsSchema = z.strictObject({
  cwd: z.string().min(1).default('.').describe('working directory, relative to where the worker runs'),
  inheritEnv: z.array(envVarName).default(['PATH', 'HOME', 'LANG', 'TZ']).describe('variables of the worker passed to every command'),
});
type Settings = z.infer<typeof settingsSchema>;

export const commandProvider: ProviderDefinition<'commands', Settings> = {
  id: 'command',
  description: 'runs the runbook\'s commands as argument vectors (no shell) on the worker, with a timeout; output in heartbeats and the report',
  capabilities: ['commands'],
  settingsSchema,
  example: { cwd: '.' },
  create(settings, context) {
    const base = Object.fromEntries(settings.inheritEnv.flatMap((name) => (context.env[name] !== undefined ? [[name, context.env[name]!]] : [])));
    return {
      commands: {
        async run(command, observe) {
          const secrets = Object.values(command.env);
          const result = await runProgram(command.argv, {
            env: { ...base, ...command.env },
            cwd: resolve(settings.cwd),
            timeoutMs: command.timeoutMs,
            signal: observe.signal,
            secrets,
            onLine: (line) => observe.onLine(line),
          });
          // stdout is what a capture keeps in the snapshot: masked like every line shown.
          return { ...result, stdout: maskSecrets(result.stdout, secrets) };
        },
      },
    };
  },
};
