/**
 * `rollback workers`: the builds of the worker deployment (docs/production.md "Upgrading the worker
 * mid-incident"). Each build is one version of the workflow code; a rollback is Pinned to the build
 * that started it and finishes there, so an upgrade shipped during an incident never replays a
 * running rollback on new code. This shows which build is current (where new rollbacks start),
 * which are draining (still holding rollbacks: keep a worker of that build running) and which are
 * drained (safe to stop), and makes a build current.
 */
import { ROLLBACK_WORKFLOWS, searchAttributes, WORKER_DEPLOYMENT } from '../contract/index.ts';
import { deploymentBuilds, makeCurrent, type BuildSummary } from '../worker/deployment.ts';
import { parseCommand, positionals, UsageError } from './args.ts';
import { table, when } from './format.ts';
import { withTemporal, type Temporal } from './temporal.ts';

export const workersUsage = `Usage: rollback workers [--deployment <name>]
       rollback workers promote <build> [--deployment <name>]

Shows each build of the worker deployment (default ${WORKER_DEPLOYMENT}): whether it is current (new
rollbacks start on it), draining (rollbacks pinned to it still run: keep a worker of that build
running), drained (none left: its workers may stop) or inactive, and the rollbacks each one holds.

  promote <build>       make <build> current; rollbacks already running stay on their build.
                        A worker makes its own build current when it starts (WORKER_PROMOTE=auto);
                        with WORKER_PROMOTE=manual this is how a new build takes over.
  --deployment <name>   another deployment than ${WORKER_DEPLOYMENT} (WORKER_DEPLOYMENT of its workers)`;

/** Open rollbacks pinned to each build, read from the server's versioning search attribute. */
async function rollbacksByBuild(temporal: Temporal, deployment: string): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>();
  const kinds = ROLLBACK_WORKFLOWS.map((k) => `'${k}'`).join(', ');
  const query = `ExecutionStatus = 'Running' AND TemporalWorkerDeployment = '${deployment}' AND ${searchAttributes.kind.name} IN (${kinds})`;
  for await (const workflow of temporal.client.workflow.list({ query })) {
    const description = await temporal.client.workflow.getHandle(workflow.workflowId, workflow.runId).describe();
    const buildId = description.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId;
    if (!buildId) continue;
    held.set(buildId, [...(held.get(buildId) ?? []), workflow.workflowId]);
  }
  return held;
}

function show(deployment: string, builds: BuildSummary[], held: Map<string, string[]>): void {
  if (builds.length === 0) {
    console.log(`no build of deployment ${deployment} has polled yet: start a worker (npm run worker, npm start)`);
    return;
  }
  const rows = builds.map((b) => {
    const rollbacks = held.get(b.buildId) ?? [];
    return [b.buildId, b.state, b.createdAt ? when(new Date(b.createdAt)) : '-', rollbacks.length === 0 ? '-' : rollbacks.join(', ')];
  });
  console.log(table(['BUILD', 'STATE', 'FIRST POLLED', 'ROLLBACKS PINNED TO IT'], rows, ''));
  const draining = builds.filter((b) => b.state === 'draining');
  if (draining.length > 0) console.log(`keep a worker of ${draining.map((b) => b.buildId).join(', ')} running until it is drained: the rollbacks above finish there`);
}

export async function workers(argv: string[]): Promise<number> {
  const { values, positionals: given } = parseCommand(argv, { deployment: { type: 'string' } });
  const deployment = values.deployment ?? WORKER_DEPLOYMENT;
  if (given[0] === 'promote') {
    const [, build] = positionals(given, ['promote', 'build']);
    return withTemporal(async (temporal) => {
      const builds = await deploymentBuilds(temporal.client, deployment);
      const target = builds.find((b) => b.buildId === build);
      if (!target) {
        const known = builds.map((b) => b.buildId).join(', ') || 'none has polled yet';
        throw new UsageError(`no build ${build} in deployment ${deployment}; known builds: ${known}`);
      }
      if (target.state === 'current') {
        console.log(`build ${build} is already current in deployment ${deployment}`);
        return 0;
      }
      await makeCurrent(temporal.client, { deploymentName: deployment, buildId: build! }, `rollback workers promote (${process.env.USER ?? 'cli'})`);
      console.log(`build ${build} is now current in deployment ${deployment}: new rollbacks start on it; running ones stay on their build`);
      show(deployment, await deploymentBuilds(temporal.client, deployment), await rollbacksByBuild(temporal, deployment));
      return 0;
    });
  }
  positionals(given, []);
  return withTemporal(async (temporal) => {
    show(deployment, await deploymentBuilds(temporal.client, deployment), await rollbacksByBuild(temporal, deployment));
    return 0;
  });
}
