/**
 * Prometheus and Alertmanager, for the test that runs the alerting chain with real binaries
 * (test/prometheus-chain.test.ts): Prometheus scrapes the sandbox with the rules `rollback watch rules`
 * writes, Alertmanager sends the alerts to the worker's receiver. No package registry this project
 * reaches ships them; each is built from its Go module at a pinned version, resolved as
 * lib/go-binaries.ts says (PROMETHEUS_PATH / ALERTMANAGER_PATH, PATH, .cache/, `go install`).
 * `npm test` and .ci/run run this before the tests, so a cold build is not spent inside a test's time
 * limit; run directly, it prints what it resolved.
 */
import { fileURLToPath } from 'node:url';
import { resolveGoBinary, type GoBinary, type Say } from './lib/go-binaries.ts';

export const PROMETHEUS: GoBinary = {
  title: 'Prometheus',
  name: 'prometheus',
  module: 'github.com/prometheus/prometheus/cmd/prometheus',
  version: '0.316.0', // the Go module's version of Prometheus 3
  builds: 'prometheus',
  binary: 'prometheus',
  pathEnv: 'PROMETHEUS_PATH',
  pathNames: ['prometheus'],
  versionArgs: ['--version'],
};

export const ALERTMANAGER: GoBinary = {
  title: 'Alertmanager',
  name: 'alertmanager',
  module: 'github.com/prometheus/alertmanager/cmd/alertmanager',
  // Later versions build without their UI assets from the module; we need no UI, but this one builds whole.
  version: '0.31.1',
  builds: 'alertmanager',
  binary: 'alertmanager',
  pathEnv: 'ALERTMANAGER_PATH',
  pathNames: ['alertmanager'],
  versionArgs: ['--version'],
};

export interface AlertingBinaries {
  prometheus: string;
  alertmanager: string;
}

/** Both programs, each resolved (and built the first time, saying so) as go-binaries.ts says. */
export async function resolveAlertingBinaries(say: Say = () => {}): Promise<AlertingBinaries> {
  const prometheus = await resolveGoBinary(PROMETHEUS, say);
  const alertmanager = await resolveGoBinary(ALERTMANAGER, say);
  return { prometheus: prometheus.path, alertmanager: alertmanager.path };
}

async function run(): Promise<void> {
  const binaries = await resolveAlertingBinaries((line) => console.log(line));
  console.log(`Prometheus: ${binaries.prometheus}\nAlertmanager: ${binaries.alertmanager}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
