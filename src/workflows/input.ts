/**
 * Workflow inputs are parsed inside the workflow, so one started from the Temporal UI's Start
 * Workflow form gets the same checks as one started from code. A bad input fails the workflow at once,
 * before any activity runs, with every problem listed.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';
import { formatProblems, freeText, personName, systemName, validate } from '../contract/index.ts';

export const INVALID_INPUT = 'InvalidInput';

/** Every rollback input carries these (DESIGN.md: public contract). */
export const commonInput = {
  system: systemName,
  reason: freeText('why the rollback is needed'),
  requestedBy: personName,
  dryRun: z.boolean().default(false),
};

/** The runbook database a workflow works on. */
export const databaseRef = {
  system: commonInput.system,
  database: z.string().min(1, "must name one of the runbook's databases (e.g. \"main\")").max(63, 'must be at most 63 characters (a Postgres name)'),
};

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
