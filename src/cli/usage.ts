/**
 * The top-level usage of `rollback` (`rollback help`, and after a mistake that names no command). Kept
 * apart from main.ts, which runs the CLI when imported, so the docs generator (scripts/generate-docs.ts)
 * can read it for docs/cli-reference.md.
 */
export const rollbackUsage = `Usage: rollback <command> [options]     (rollback <command> --help for its options)

  rollback start fullRollback --system <name> --mode immediate|gradual --reason "<why>" --by <you>
                 [--steps 50,0] [--dry-run] [--verify-window <s>] [--detected-at <ISO>] [--id <id>] [--wait]
  rollback start dataRestore --system <name> --database <name> --reason "<why>" --by <you>
                 [--backup latest|<id>] [--before <ISO>] [--action restore|schema-rollback --phases 5,4]
  rollback start phaseRollback --system <name> --phases 5,4,3 | --from 5 --to 3 --reason "<why>" --by <you>
  rollback start configRollback --system <name> [--kill-switch grok] [--flag name=off] [--config KEY=value]
                 [--secret NAME=previous] [--restart all] --reason "<why>" --by <you>
  rollback status <workflowId> [--json]
  rollback approve <workflowId> --by <you> [--comment "<text>"] [--key <key file>]
  rollback reject <workflowId> --by <you> --reason "<why>" [--key <key file>]
  rollback decide <workflowId> --by <you> --action retry|skip|compensate|abort [--key <key file>]
  rollback abort <workflowId> --by <you> --reason "<why>" [--key <key file>]
  rollback sign approve|reject|decide|abort <workflowId> --by <you> [--key <file>] [--comment|--reason|--action ...]
  rollback list [--system <name>] [--state <state>] [--kind <type>] [--limit <n>]
  rollback watch start|stop|status|pause|resume --system <name> [--by <you>] [--reason "<why>"]
  rollback drill schedule|list|pause|resume|trigger|report --system <name> [--drill <name>]
  rollback backup --system <name> --database <name> | --keyspace <name>
  rollback backups --system <name> --database <name>
  rollback providers [<id>] [--json]
  rollback workers [promote <build>]  (the worker's builds: current, draining, drained)
  rollback validate <runbook.yaml> [--json]
  rollback plan <runbook.yaml> --workflow <type> [--mode immediate|gradual] [--phases 5,4] [...]  (a dry run, no Temporal)
  rollback import <file.md> [--system <name>] [--out <runbook.yaml>] [--report <file>]  (markdown -> a draft, offline)
  rollback help [<command>]

Connection: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_API_KEY,
TEMPORAL_TLS*, TEMPORAL_PROFILE as for the temporal CLI; TEMPORAL_UI_URL (default http://localhost:8233).
Exit codes: 0 done, 1 error (Temporal unreachable, no such workflow, no worker answering),
2 usage error, 3 not accepted by the workflow (refused).`;
