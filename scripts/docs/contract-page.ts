/** docs/contract.md: the names outsiders type (src/contract/): workflow types and their inputs, gates, signals and payloads, search attributes, failure types. */
import type { z } from 'zod';
import { configRollbackInput, databaseBackupInput, databaseRef, dataRestoreInput, drillInput, FAILURE_TYPES, fullRollbackInput, GATES, INTERNAL_WORKFLOWS, keyspaceBackupInput, phaseRollbackInput, ROLLBACK_WORKFLOWS, SIGNAL_PAYLOADS, STATUS_QUERY, searchAttributes, SUPPORT_WORKFLOWS, TASK_QUEUE, WATCH_WORKFLOWS, WATCHDOG_SIGNAL_PAYLOADS, watchdogInput, type WorkflowType } from '../../src/contract/index.ts';
import { generatedBy, prose, code, table, page } from './markdown.ts';
import { jsonSchemaOf, SchemaReader, fieldRows, FIELD_HEADERS } from './schema-fields.ts';

/** Each workflow type a person or a Schedule starts, with the input it parses; a new type without one does not compile. */
const INPUTS = {
  fullRollback: fullRollbackInput,
  dataRestore: dataRestoreInput,
  phaseRollback: phaseRollbackInput,
  configRollback: configRollbackInput,
  databaseBackup: databaseBackupInput,
  backupCatalog: databaseRef,
  keyspaceBackup: keyspaceBackupInput,
  rollbackWatchdog: watchdogInput,
  rollbackDrill: drillInput,
} satisfies Record<Exclude<WorkflowType, (typeof INTERNAL_WORKFLOWS)[number]>, z.ZodType>;

const PAGES: Partial<Record<WorkflowType, string>> = {
  fullRollback: 'full-rollback.md',
  dataRestore: 'data-restore.md',
  phaseRollback: 'phase-rollback.md',
  configRollback: 'config-rollback.md',
  rollbackWatchdog: 'watching-and-drills.md',
  rollbackDrill: 'watching-and-drills.md',
  databaseBackup: 'data-restore.md#backups',
  backupCatalog: 'data-restore.md#backups',
  keyspaceBackup: 'phase-rollback.md#keyspace-backups',
};

function schemaTable(schema: z.ZodType): string {
  const json = jsonSchemaOf(schema);
  return table(FIELD_HEADERS, fieldRows(new SchemaReader(json).fields(json, ''), false));
}

export function contractPage(): string {
  const groups: [string, readonly WorkflowType[]][] = [
    ['rollback', ROLLBACK_WORKFLOWS],
    ['support (backups)', SUPPORT_WORKFLOWS],
    ['watching and drills', WATCH_WORKFLOWS],
    ['internal (started by the rollbacks)', INTERNAL_WORKFLOWS],
  ];
  const gatesOf = (type: WorkflowType) => Object.keys((GATES as Record<string, Record<string, string>>)[type] ?? {}).map(code).join(', ');
  const lines: (string | null)[] = [
    generatedBy('src/contract/ (names.ts, inputs.ts, payloads.ts)'),
    '# The contract: names and inputs',
    '',
    'The names people, scripts and runbooks type, from [src/contract/](../src/contract/index.ts): the worker, the workflows, the CLI, the runbook schema and these docs all read them from there (`test/contract.test.ts` checks they agree). Changing one breaks whoever types it: names are added, not renamed.',
    '',
    `Task queue: ${code(TASK_QUEUE)}. Query: ${code(STATUS_QUERY)} (every rollback, the watchdog and the drill answer it).`,
    '',
    '## Workflow types',
    '',
    table(
      ['type', 'kind', 'gates', 'input', 'page'],
      groups.flatMap(([kind, types]) =>
        types.map((type) => [code(type), kind, gatesOf(type), type in INPUTS ? `[input](#${type.toLowerCase()})` : 'set by the rollback', PAGES[type] ? `[${PAGES[type]!.replace(/#.*/, '')}](${PAGES[type]})` : '']),
      ),
    ),
    '',
    "Every rollback input has `system` (a runbook name), `reason` and `requestedBy`; `dryRun: true` returns the plan computed from live state and changes nothing. An input is parsed inside the workflow, so one typed into the UI's Start Workflow form gets the same checks as one from the CLI: a bad one fails the workflow at once, every problem listed, nothing changed.",
  ];
  for (const [type, schema] of Object.entries(INPUTS)) lines.push('', `### ${code(type)}`, '', schemaTable(schema));

  lines.push(
    '',
    '## Signals and Updates',
    '',
    'Every rollback answers these four, as signals and as Updates of the same name and payload. A malformed or unauthorised one is refused and recorded (a signal) or refused at once and never recorded (an Update); a handler never throws.',
  );
  for (const [name, { schema, example }] of Object.entries(SIGNAL_PAYLOADS)) lines.push('', `### ${code(name)}`, '', `Example: ${code(example)}`, '', schemaTable(schema));
  lines.push('', '## Watchdog signals', '', "`rollbackWatchdog` answers these; only the runbook's approvers may send them.");
  for (const [name, { schema, example }] of Object.entries(WATCHDOG_SIGNAL_PAYLOADS)) lines.push('', `### ${code(name)}`, '', `Example: ${code(example)}`, '', schemaTable(schema));

  lines.push(
    '',
    '## Search attributes',
    '',
    "Kept current by every rollback, so the UI's workflow list can be filtered (`RollbackState = 'awaiting_approval'`). Register them in your namespace once (`npm start` and `npm run cluster` do it for theirs).",
    '',
    table(['name', 'type'], Object.values(searchAttributes).map((key) => [code(key.name), key.type])),
    '',
    '## Failure types',
    '',
    'The type of the failure a rollback ends with or an activity refuses with; none is retried as it is (a retry would compute the same refusal).',
    '',
    table(['type', 'meaning'], Object.entries(FAILURE_TYPES).map(([type, meaning]) => [code(type), prose(meaning)])),
  );
  return page(lines);
}
