/**
 * The draft runbook YAML: every emitted item with a comment citing its source line and text (the
 * `yaml` package's Document API), destructive lines commented out with their reason, opaque commands
 * marked REVIEW, values the document does not hold as `<FILL: ...>` placeholders the loader refuses.
 */
import { Document, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { Approval, DrillCadence, RtoTarget, Threshold } from './prose.ts';
import type { CommandLine } from './shell.ts';
import { fill, slug, type Emission, type ProviderRef, type Verdict } from './verdict.ts';

export interface Entry {
  line: number;
  text: string;
  section: string;
  step: string | null;
  verdict: Verdict;
  /** The parsed line, for an opaque command's argv and env. */
  parsed: CommandLine | null;
}

export interface Prose {
  thresholds: Threshold[];
  approvals: Approval[];
  rto: RtoTarget[];
  drills: DrillCadence[];
}

type Path = (string | number)[];
type Json = Record<string, unknown>;

function cite(line: number, text: string): string {
  const shown = text.length > 110 ? `${text.slice(0, 107)}...` : text;
  return ` line ${line}: ${shown.replace(/\n/g, ' ')}`;
}

function mergeInto(target: Json, source: Json): void {
  for (const [key, value] of Object.entries(source)) {
    const have = target[key];
    if (Array.isArray(have) && Array.isArray(value)) target[key] = [...new Set([...have, ...value])];
    else if (have && typeof have === 'object' && value && typeof value === 'object' && !Array.isArray(value)) mergeInto(have as Json, value as Json);
    else if (have === undefined) target[key] = value;
  }
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** An opaque line as a command action: its first command's argv, env by variable name, never a shell string. */
function commandAction(entry: Entry): { action: Json; notes: string[] } {
  const line = entry.parsed!;
  const first = line.commands[0]!;
  const argv = first.argv.map((w) => w.replace(/⟨([^⟩]+)⟩/g, (_m, name: string) => fill(name.replace(/_/g, ' '))));
  const env = Object.fromEntries(first.envRefs.filter((v) => ENV_NAME.test(v)).map((v) => [v, v]));
  const notes: string[] = [];
  if (line.commands.length > 1 || line.compound) notes.push(`only its first command is here: "${line.joins.join(' ') || 'control flow'}" needs a shell, which command actions never run`);
  if (first.redirects.length > 0) notes.push(`its redirection (${first.redirects.map((r) => `${r.op} ${r.target}`).join(', ')}) is dropped: no shell`);
  if (first.envRefs.length > 0) notes.push(`$${first.envRefs.join(', $')} is not expanded in arguments (no shell): the command reads it from env`);
  return { action: { command: argv, ...(Object.keys(env).length ? { env } : {}), timeoutSeconds: 300, provider: 'commands' }, notes };
}

export interface Draft {
  yaml: string;
  placeholders: string[];
  phases: number;
}

export function assembleDraft(system: string, file: string, entries: Entry[], prose: Prose): Draft {
  const runbook: Json = { system, description: `Imported from ${file} by rollback import: a DRAFT to review line by line before use` };
  const providers: Record<string, ProviderRef> = {};
  const comments: { path: Path; text: string }[] = [];
  const trailing: string[] = [];
  const phases: { id: number; name: string; description: string; rollback: Json[] }[] = [];
  const phaseComments = new Map<number, string[]>();
  const health: Json = {};
  let metricsUrl: string | undefined;

  const phaseFor = (section: string, line: number): number => {
    const found = phases.findIndex((p) => p.name === section);
    if (found >= 0) return found;
    phases.push({ id: phases.length + 1, name: section, description: `from ${file}, the section at line ${line}`, rollback: [] });
    return phases.length - 1;
  };

  const apply = (emit: Emission[], entry: Entry, note: string): void => {
    for (const e of emit) {
      if ('action' in e) {
        const p = phaseFor(entry.section, entry.line);
        phases[p]!.rollback.push(e.action);
        comments.push({ path: ['phases', p, 'rollback', phases[p]!.rollback.length - 1], text: `${cite(entry.line, entry.text)}\n ${note}` });
      } else if ('provider' in e) {
        if (providers[e.provider]) mergeInto(providers[e.provider] as unknown as Json, e.ref as unknown as Json);
        else {
          providers[e.provider] = structuredClone(e.ref);
          comments.push({ path: ['providers', e.provider], text: ` first named at${cite(entry.line, entry.text)}` });
        }
      } else if (e.path[0] === 'health') {
        if (e.path[1] === 'metrics') metricsUrl ??= e.value as string;
        else {
          const checks = (health.checks ??= []) as Json[];
          const check = e.value as Json;
          if (checks.some((c) => JSON.stringify([c.url, c.command, c.method]) === JSON.stringify([check.url, check.command, check.method]))) continue;
          while (checks.some((c) => c.name === check.name)) check.name = `${String(check.name)}-${checks.length + 1}`;
          checks.push(check);
          comments.push({ path: ['health', 'checks', checks.length - 1], text: cite(entry.line, entry.text) });
        }
      } else {
        const [head, key] = e.path as [string, string | undefined];
        if (e.append) {
          const list = (runbook[head] ??= head === 'notify' ? [{ provider: 'log' }] : []) as unknown[];
          if (!list.some((v) => JSON.stringify(v) === JSON.stringify(e.value))) {
            list.push(e.value);
            comments.push({ path: [head, list.length - 1], text: cite(entry.line, entry.text) });
          }
        } else if (key === undefined) {
          if (runbook[head] === undefined) comments.push({ path: [head], text: `${cite(entry.line, entry.text)}\n ${note}` });
          runbook[head] = e.value;
        } else {
          const section = (runbook[head] ??= {}) as Json;
          if (section[key] === undefined) {
            section[key] = e.value;
            comments.push({ path: [head, key], text: `${cite(entry.line, entry.text)}\n ${note}` });
          }
        }
      }
    }
  };

  for (const entry of entries) {
    const v = entry.verdict;
    if (v.kind === 'typed') apply(v.emit, entry, `${v.as}: ${v.reason}`);
    else if (v.kind === 'absorbed' && v.emit) apply(v.emit, entry, v.reason);
    else if (v.kind === 'opaque') {
      const { action, notes } = commandAction(entry);
      providers.commands ??= { provider: 'command', settings: { cwd: '.' } };
      apply([{ action }], entry, `REVIEW (opaque): ${v.reason}${notes.length ? `; ${notes.join('; ')}` : ''}; give an undo and repeatable: true if it is safe to run twice`);
    } else if (v.kind === 'destructive' && v.safe) apply(v.safe.emit, entry, `SAFE EQUIVALENT of a destructive line (${v.reason})`);
  }
  // Destructive lines sit, commented out, before the phase of their section, or at the end when it has none.
  for (const entry of entries) {
    if (entry.verdict.kind !== 'destructive') continue;
    const text = ` NOT EMITTED (destructive):${cite(entry.line, entry.text)} -- ${entry.verdict.reason}`;
    const p = phases.findIndex((ph) => ph.name === entry.section);
    if (p >= 0) phaseComments.set(p, [...(phaseComments.get(p) ?? []), text]);
    else trailing.push(text.trim());
  }

  // Thresholds: the first trigger of each rate sets the verification limit; "within N minutes" ones are stages.
  const thresholds: Json = {};
  const stages: Json[] = [];
  const rules: Json[] = [];
  const rollsBack = runbook.traffic !== undefined;
  for (const t of prose.thresholds) {
    const rate = t.metric === 'errorRatePct' || t.metric === 'p95Ms' || t.metric === 'successRatePct';
    if (rate && t.withinSeconds) {
      const name = slug(`${t.metric.replace(/Pct|Ms/, '')}-${typeof t.value === 'number' ? t.value : 'baseline'}-within-${t.withinSeconds}s`);
      if (stages.some((s) => s.name === name)) continue;
      stages.push({ name, withinSeconds: t.withinSeconds, [t.metric]: t.value });
      comments.push({ path: ['health', 'stages', stages.length - 1], text: cite(t.line, t.text) });
    } else if (rate && thresholds[t.metric] === undefined && t.use !== 'alert') {
      thresholds[t.metric] = t.value;
      comments.push({ path: ['health', 'thresholds', t.metric], text: cite(t.line, t.text) });
    }
    if (t.use === 'trigger' && typeof t.value === 'number') {
      const name = slug(`${t.metric.replace(/Pct|Ms/, '')}-${t.direction}-${t.value}`);
      if (rules.some((r) => r.name === name)) continue;
      const measure = rate ? { metric: t.metric } : { gauge: fill(`gauge series for ${t.metric === 'memoryPct' ? 'memory usage, e.g. memory_usage_ratio' : 'the circuit breaker, e.g. circuit_breaker_open{feature="grok"}'}`) };
      const action = rollsBack && /roll ?back/i.test(t.text) ? { rollback: 'immediate' } : { alert: true };
      rules.push({ name, ...measure, [t.direction]: t.metric === 'circuitBreakerOpen' ? 0 : t.value, ...(t.forSeconds ? { forSeconds: t.forSeconds } : {}), action });
      comments.push({ path: ['watch', 'rules', rules.length - 1], text: `${cite(t.line, t.text)}${'alert' in action && /roll ?back/i.test(t.text) ? '\n the document rolls back here; with no traffic section the rule alerts (add one, or a release section, to roll back)' : ''}` });
    }
  }
  if (Object.keys(thresholds).length) health.thresholds = thresholds;
  if (stages.length) health.stages = stages;
  if (stages.length || rules.length) {
    health.metrics = { provider: 'prometheus', settings: { url: metricsUrl ?? fill('metrics endpoint (Prometheus text)'), requestsMetric: fill('request counter labelled by status, e.g. http_requests_total'), latencyMetric: fill('latency histogram in seconds, e.g. http_request_duration_seconds') } };
    comments.push({ path: ['health', 'metrics'], text: ' the thresholds below are measured here: name the series the service exports' });
  }
  if (Object.keys(health).length) runbook.health = health;
  if (rules.length) runbook.watch = { rules };

  // Approvals: a role per statement, its people when named; the gate sits before the phase of its section.
  const approvers: Record<string, string[]> = {};
  const gates: Json = {};
  for (const a of prose.approvals) {
    approvers[a.role] = [...new Set([...(approvers[a.role] ?? []), ...a.people])];
    const phase = phases.findIndex((p) => p.name === a.section);
    const gate = phase >= 0 ? `before-phase-${phases[phase]!.id}` : runbook.databases && /data|restore|dba|database/i.test(a.text) ? 'before-swap' : 'before-phase';
    if (gates[gate]) continue;
    gates[gate] = { role: a.role, required: /\band\b/i.test(a.text) && a.people.length > 1 ? a.people.length : 1 };
    comments.push({ path: ['gates', gate], text: cite(a.line, a.text) });
  }
  for (const [role, people] of Object.entries(approvers)) if (people.length === 0) approvers[role] = [fill(role === 'approvers' ? 'names of the people who must approve' : `names of the ${role} approvers`)];
  if (Object.keys(approvers).length === 0) approvers.oncall = [fill('names of the on-call approvers (the document names none)')];
  runbook.approvers = approvers;
  if (Object.keys(gates).length) runbook.gates = gates;

  // RTO: each stage the document gives; the rest are placeholders, the total kept as a comment.
  const rto: Json = {};
  for (const stage of ['detectionMinutes', 'decisionMinutes', 'executionMinutes', 'verificationMinutes'] as const) {
    const found = prose.rto.find((r) => r.stage === stage);
    rto[stage] = found ? found.minutes : fill(`${stage.replace('Minutes', '')} target in minutes (the document gives none)`);
    if (found) comments.push({ path: ['rto', stage], text: cite(found.line, found.text) });
  }
  runbook.rto = rto;
  const total = prose.rto.find((r) => r.stage === 'total');
  if (total) comments.push({ path: ['rto'], text: ` total:${cite(total.line, total.text)}` });

  if (Object.keys(providers).length) runbook.providers = providers;
  if (phases.length) runbook.phases = phases;
  // Drill cadence becomes a read-only drill on that schedule: it works on any runbook (every provider
  // read, every gate's approvers checked, the dry run timed) and changes nothing. A drill that injects a
  // fault needs a scenario and its undo, which a document rarely spells out: a reviewer adds one.
  const drills: Json = {};
  for (const d of prose.drills) {
    const name = slug(`${d.cadence}-readonly`);
    if (drills[name]) continue;
    drills[name] = { description: `read-only rehearsal ${d.cadence}; add a scenario (and its undo) to rehearse for real`, dryRun: true, approver: fill('who acts as approver in the drill'), schedule: { cron: d.cron } };
    comments.push({ path: ['drills', name], text: cite(d.line, d.text) });
  }
  if (Object.keys(drills).length) runbook.drills = drills;

  const order = ['system', 'description', 'traffic', 'providers', 'health', 'watch', 'approvers', 'gates', 'statusPage', 'notify', 'rto', 'databases', 'keyspaces', 'sqlite', 'volumes', 'phases', 'drills'];
  const ordered = Object.fromEntries([...order.filter((k) => k in runbook).map((k) => [k, runbook[k]]), ...Object.entries(runbook).filter(([k]) => !order.includes(k))]);
  const doc = new Document(ordered);
  doc.commentBefore = ` DRAFT imported from ${file} by \`rollback import\`: every item cites the line it came from.\n Fill each <FILL: ...> (the loader refuses the file until none is left), review each REVIEW, read the report.`;
  for (const { path, text } of comments) attach(doc, path, text);
  for (const [p, lines] of phaseComments) attach(doc, ['phases', p], lines.join('\n'));
  if (trailing.length) doc.comment = trailing.map((t) => ` ${t}`).join('\n');
  const yaml = doc.toString({ lineWidth: 0 });
  const placeholders = [...new Set(yaml.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n').match(/<FILL: [^>]*>/g) ?? [])];
  return { yaml, placeholders, phases: phases.length };
}

/** A comment before the node at `path` (before its key, for a map entry). */
function attach(doc: Document, path: Path, text: string): void {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const last = path.at(-1)!;
  const add = (node: { commentBefore?: string | null }): void => {
    node.commentBefore = node.commentBefore ? `${node.commentBefore}\n${text}` : text;
  };
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    if (pair && isScalar(pair.key)) add(pair.key);
  } else if (isSeq(parent)) {
    const item = parent.items[last as number] as YamlNode | undefined;
    if (item) add(item as { commentBefore?: string | null });
  }
}
