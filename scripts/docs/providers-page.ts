/** docs/providers.md: every provider of the registry (src/providers/index.ts), its capabilities, settings and example, and which runbooks name it. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { CAPABILITY_NAMES, providersOf } from '../../src/providers/index.ts';
import { allProviders, settingsOf } from '../../src/providers/settings-docs.ts';
import { generatedBy, prose, code, table, page } from './markdown.ts';
import { sentence } from './schema-fields.ts';
import { root } from './root.ts';

/**
 * How each provider is tested and which seeds it serves: the one column the registry cannot know.
 * A provider registered without a line here stops the generator (and so test/docs.test.ts), naming it.
 */
const TESTED: Record<string, { serves: string; testedAgainst: string }> = {
  'cloud-run': {
    serves: 'Google Cloud Run, revisions, Secret Manager versions (seed 002)',
    testedAgainst: 'emulators of the documented Admin API v2 and Secret Manager API v1; fullRollback and a secret-version phaseRollback end to end',
  },
  'cloud-logging': {
    serves: 'Google Cloud Logging entries for log checks (seed 002\'s gcloud logging read)',
    testedAgainst: 'an emulator of the documented entries.list (paging, filters, the window); a Fly rollback verified by it end to end',
  },
  'cloud-sql': { serves: 'Google Cloud SQL point-in-time clones (seed 002)', testedAgainst: 'an emulator of the documented Admin API v1' },
  command: { serves: 'any CLI: flyctl, kubectl, docker compose, scripts', testedAgainst: 'real programs; the sandbox' },
  'docker-compose': { serves: 'Docker Compose on one host (seed 003)', testedAgainst: "a real Docker engine; fullRollback, and phaseRollback with scale, release (to a git tag) and volume-restore, end to end; seed 003's runbook end to end" },
  'flagd-file': { serves: 'an OpenFeature flagd flag file (where seed 004 keeps its flags in .env, its runbook keeps them here)', testedAgainst: "the sandbox; seed 004's runbook end to end" },
  'fly-logs': { serves: "a Fly.io app's logs for log checks (seeds 000, 001's fly logs)", testedAgainst: "an emulator of the logs endpoint as flyctl's client reads it; a Fly rollback whose verification fails on too many error lines, end to end" },
  'fly-machines': { serves: 'Fly.io apps, Machines API (seeds 000, 001)', testedAgainst: 'an emulator of the documented Machines API' },
  'git-revert': { serves: 'a shared git branch (seeds 001, 004)', testedAgainst: "real git; a phaseRollback end to end; seed 004's runbook end to end" },
  'http-admin': { serves: "the sandbox's admin API", testedAgainst: 'the sandbox' },
  'http-router': { serves: 'the sandbox router', testedAgainst: 'the sandbox' },
  kubernetes: { serves: 'Kubernetes Deployments (no seed runs on Kubernetes: examples/kubernetes.yaml moves seed 004 there)', testedAgainst: 'an emulator of the documented API server and Deployment controller' },
  log: { serves: "the worker's log; the default channel", testedAgainst: 'the sandbox' },
  'postgres-table': { serves: 'a feature_flags table (seed 002)', testedAgainst: 'the sandbox (real Postgres)' },
  prometheus: { serves: 'any Prometheus text endpoint', testedAgainst: 'the sandbox' },
  railway: { serves: 'Railway services, GraphQL API (seed 001)', testedAgainst: 'an emulator of the documented GraphQL API' },
  redis: { serves: 'Redis (seeds 002, 004)', testedAgainst: "real Redis; the sandbox; seed 004's runbook end to end" },
  render: { serves: 'Render services, REST API (seed 001)', testedAgainst: 'an emulator of the documented REST API' },
  slack: { serves: 'Slack Web API, bot token (seed 000)', testedAgainst: 'an emulator of the documented Web API' },
  statuspage: { serves: 'Atlassian Statuspage (seed 000)', testedAgainst: 'an emulator of the documented REST API v1' },
  webhook: { serves: 'a Slack-compatible incoming webhook', testedAgainst: 'the sandbox' },
};


/** The runbooks (the sandbox's and the examples) that name each provider, by relative path from docs/. */
function exampleRunbooks(): Map<string, string[]> {
  const files = [
    ...readdirSync(join(root, 'runbooks')).filter((f) => f.endsWith('.yaml')).map((f) => `runbooks/${f}`),
    ...readdirSync(join(root, 'runbooks/examples')).filter((f) => f.endsWith('.yaml')).map((f) => `runbooks/examples/${f}`),
  ].sort();
  const named = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const match of text.matchAll(/\bprovider:\s*['"]?([a-z0-9-]+)/g)) {
      const list = named.get(match[1]!) ?? [];
      if (!list.includes(file)) named.set(match[1]!, [...list, file]);
    }
  }
  return named;
}

export function providersPage(): string {
  const providers = allProviders();
  const missing = providers.filter((p) => !TESTED[p.id]).map((p) => p.id);
  const unknown = Object.keys(TESTED).filter((id) => !providers.some((p) => p.id === id));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(`generate-docs: TESTED in scripts/generate-docs.ts must have one line per registered provider; missing: ${missing.join(', ') || 'none'}; not registered: ${unknown.join(', ') || 'none'}`);
  }
  const examples = exampleRunbooks();
  const link = (file: string) => `[${file.replace(/^runbooks\//, '')}](../${file})`;
  const capabilities = Object.keys(CAPABILITY_NAMES) as (keyof typeof CAPABILITY_NAMES)[];

  const lines: (string | null)[] = [
    generatedBy('the provider registry, src/providers/index.ts and src/providers/settings-docs.ts'),
    '# Providers',
    '',
    "What a runbook can name under `provider:` (in `traffic:`, `release:`, `providers:`, `health.metrics`, `notify:` and `statusPage:`), what each one can do and the settings it takes, from the registry the worker loads runbooks with. `rollback providers` prints the same list and `rollback providers <id>` one provider's settings and example (`--json` for either).",
    '',
    "- Settings are checked by the provider's own schema when the runbook loads: a typo stops the worker at start-up, naming file, path and reason, never mid-rollback. An unknown provider id is refused with the list of the ones that offer what was asked.",
    '- Secrets are named by environment variable (`tokenEnv`, `urlEnv`, `databaseUrlEnv`, `adminTokenEnv`, `apiKeyEnv`): their values never enter runbooks, workflow inputs, history or logs.',
    "- Each provider's client is made once per worker, on first use, and closed when the worker stops. A change a provider cannot make safely twice is refused on retry for a person to decide (`NotSafeToRepeat`); ours all honour idempotency keys, and a runbook command is `repeatable: false` unless the runbook says otherwise.",
    "- Each platform has a runbook in [runbooks/examples/](../runbooks/examples/) that `test/runbook-examples.test.ts` loads with the worker's loader; the worker itself reads only the files directly in `RUNBOOKS_DIR`, so the examples are never live. The examples move some seeds onto other platforms (seed 004 onto Kubernetes); each seed's faithful runbook, on the seed's own platform, is in [runbooks/seeds/](../runbooks/seeds/), and [Seed coverage](seed-coverage.md) lists every step of each seed with the runbook line that does it.",
    '',
    '## Every provider',
    '',
    table(
      ['provider', 'capabilities', 'serves', 'named in', 'tested against'],
      providers.map((p) => [
        `[${code(p.id)}](#${p.id})`,
        p.capabilities.map((c) => CAPABILITY_NAMES[c]).join(', '),
        prose(TESTED[p.id]!.serves),
        (examples.get(p.id) ?? []).map(link).join(', '),
        prose(TESTED[p.id]!.testedAgainst),
      ]),
    ),
    '',
    '## By capability',
    '',
    table(
      ['capability', 'providers'],
      capabilities.map((c) => [CAPABILITY_NAMES[c], providersOf(c).sort().map((id) => `[${code(id)}](#${id})`).join(', ')]),
    ),
  ];
  for (const p of providers) {
    const settings = settingsOf(p);
    lines.push(
      '',
      `## ${code(p.id)}`,
      '',
      sentence(p.description),
      '',
      `- Capabilities: ${p.capabilities.map((c) => CAPABILITY_NAMES[c]).join(', ')}.`,
      `- Serves: ${prose(TESTED[p.id]!.serves)}; tested against ${prose(TESTED[p.id]!.testedAgainst)}.`,
      examples.has(p.id) ? `- Named in: ${examples.get(p.id)!.map(link).join(', ')}.` : null,
      '',
      settings.length === 0
        ? 'No settings.'
        : table(
            ['setting', 'type', 'required', 'default', 'description'],
            settings.map((s) => [code(s.name), code(s.type), s.required ? 'yes' : '', s.default === undefined ? '' : code(JSON.stringify(s.default)), prose(s.description ?? '')]),
          ),
      '',
      'Example:',
      '',
      '```yaml',
      YAML.stringify({ provider: p.id, settings: p.example }, { lineWidth: 0 }).trimEnd(),
      '```',
    );
  }
  return page(lines);
}
