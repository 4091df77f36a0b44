// @ts-check
// Which code may import which (DESIGN.md, "Imports point one way, down"), as lint rules on folders,
// not lists of files: a new file is held to its folder's rule the moment it exists. test/layering.test.ts
// lints a workflow that imports worker code and expects these to refuse it.
//
//   contract                      the names and shapes outsiders type; imports nothing of ours
//   actions, plan                 pure: what workflows run (plans, reports, action kinds)
//   workflows                     deterministic; at run time only contract, actions, plan and its own
//   providers, runbook, activities, worker, triggers, build, cli: worker and operator side
//   dry-run                       `rollback plan`: the worker's read-only activities and the pure plan code,
//                                 run in the operator's process; the CLI's one way to the activities
//   import                        `rollback import`: contract, runbook and action schemas only

const nodeBuiltins = [
  { group: ['node:*'], message: 'Node built-ins cannot run in workflow code; use an activity.' },
  {
    group: ['fs', 'fs/*', 'path', 'os', 'child_process', 'http', 'https', 'net', 'crypto', 'process'],
    message: 'Node built-ins cannot run in workflow code; use an activity.',
  },
  { group: ['pg', 'pg-*'], message: 'Databases are reached from activities only.' },
  { group: ['pino', 'pino-*'], message: 'Workflows log through the workflow `log` from @temporalio/workflow.' },
];

/** Worker-side folders whose types (never their code) pure and workflow code may name. */
const typesOnly = {
  group: ['**/activities/**', '**/runbook/**', '**/providers/**'],
  allowTypeImports: true,
  message: 'Workflow and plan code imports only contract/, actions/ and plan/ at run time; from activities, runbook and providers it takes types (import type), never code.',
};

/** Folders nothing pure may reach, not even for a type. */
const workerOnly = {
  group: ['**/worker/**', '**/build/**', '**/cli/**', '**/triggers/**'],
  message: 'Worker, build, trigger and CLI code is never imported by workflow, plan or action code.',
};

const restricted = (...patterns) => ({
  '@typescript-eslint/no-restricted-imports': ['error', { patterns: [...nodeBuiltins, ...patterns] }],
  'no-restricted-globals': ['error', 'process', 'Buffer', 'setInterval'],
});

export const boundaries = [
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node built-ins, no config reads.
    files: ['src/workflows/**/*.ts'],
    rules: restricted(typesOnly, workerOnly),
  },
  {
    // Plans run inside workflows; action kinds too (their worker-side part is handed its clients).
    files: ['src/plan/**/*.ts', 'src/actions/**/*.ts'],
    rules: restricted(typesOnly, workerOnly, { group: ['**/workflows/**'], message: 'Plans and action kinds sit below the workflows.' }),
  },
  {
    files: ['src/contract/**/*.ts'],
    rules: restricted({ group: ['../**'], message: 'The contract imports nothing of ours: everything else imports it.' }),
  },
  {
    // `rollback import` reads markdown offline: it names runbook shapes (contract, runbook, action schemas), never runs a rollback.
    files: ['src/import/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows/**', '**/activities/**', '**/worker/**', '**/build/**', '**/providers/**', '**/triggers/**', '**/cli/**'], message: 'The importer may import contract, runbook and action schemas only: it reads a document, it runs nothing.' }] },
      ],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows/**', '**/activities/**'], message: 'The CLI talks to workflows through the contract (src/contract/messages.ts, results.ts), not their code; `rollback plan` reads live state through src/dry-run/.' }] },
      ],
    },
  },
  {
    // `rollback plan` makes a dry run's plan without Temporal: worker-side code run locally, as the worker
    // runs it, so it may use the activities (their reading ones) and the pure plan code, but not the
    // workflows' code (it needs Temporal's sandbox) nor anything above it.
    files: ['src/dry-run/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows/**', '**/cli/**', '**/triggers/**', '**/worker/**'], message: 'The dry run runs the plan code the workflows call, never the workflows themselves, and sits below the CLI and the worker.' }] },
      ],
    },
  },
];

/** Not a boundary, but a rule by folder too: how worker-side code waits. */
export const activityWaits = {
  // Worker-side code waits with sleepUntilCancelled/untilCancelled (src/activities/heartbeat.ts):
  // the SDK's context.sleep, and any race with context.cancelled, leave a timer and closures on the
  // activity until it ends, one per wait (docs/development.md, "Waiting inside an activity").
  files: ['src/activities/**/*.ts', 'src/providers/**/*.ts', 'src/dry-run/**/*.ts'],
  rules: {
    'no-restricted-syntax': [
      'error',
      // `Context.current().sleep(…)`, or `context.sleep(…)` on a context held in a variable.
      { selector: "MemberExpression[property.name='sleep']:matches([object.type!='Identifier'], [object.name=/^(context|ctx|activityContext)$/])", message: 'wait with sleepUntilCancelled (src/activities/heartbeat.ts): context.sleep leaves its timer on the activity until it ends' },
      { selector: "MemberExpression[property.name='cancelled']", message: 'race with untilCancelled (src/activities/heartbeat.ts): a race with context.cancelled stays on the activity until it ends' },
    ],
  },
};
