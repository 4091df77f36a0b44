/**
 * Workflow inputs are parsed inside the workflow, so one started from the Temporal UI's Start
 * Workflow form gets the same checks as one started from code. A bad input fails the workflow at once,
 * before any activity runs, with every problem listed.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { formatProblems, validate } from '../contract/index.ts';

export const INVALID_INPUT = 'InvalidInput';

export function parseInput<T extends z.ZodType>(workflow: string, schema: T, raw: unknown): z.infer<T> {
  const result = validate(schema, raw);
  if (!result.ok) {
    const problems = result.problems;
    throw ApplicationFailure.nonRetryable(
      `invalid ${workflow} input:\n${formatProblems(problems, '  ')}`,
      INVALID_INPUT,
      problems,
    );
  }
  return result.data;
}
