/**
 * What the `status` query returns and the incident report is written from. Pure data: the CLI and
 * tests import these types too.
 */
import type { DecisionAction } from './payloads.ts';

/** Weights are percentages per version (summing to 100); instances are counts per version. */
export interface TrafficState {
  weights: Record<string, number>;
  instances: Record<string, number>;
  /** false when the traffic provider does not scale versions (Cloud Run scales itself): plans leave instance counts alone. */
  scales?: boolean;
  /**
   * false when the provider splits no traffic (Fly: no weights between apps): `weights` are each
   * version's share of the instances, and plans move traffic by scaling.
   */
  splits?: boolean;
}

/**
 * One release of a target (a Compose service, a Fly app, a Railway or Render service, a Kubernetes
 * Deployment): what rolling back goes to, and what compensation goes back to.
 */
export interface Release {
  /** The platform's own id: an image digest, a deployment or deploy id, a ReplicaSet revision. */
  id: string;
  /** What people recognise: the image reference, the deploy's commit message. */
  label: string;
  createdAt?: string;
  /** The image it runs, where the platform says. */
  image?: string;
  /** Other names it answers to: a git tag, a revision number, a traffic tag, a digest. */
  aliases?: string[];
  /** An image no release runs yet: rolling to it deploys it (Cloud Run: a new revision, tagged). */
  fresh?: boolean;
}

export interface ReleaseState {
  target: string;
  /** What serves now; null when nothing is deployed. */
  current: Release | null;
  /** What a rollback goes to: the release before `current`; null when there is none. */
  previous: Release | null;
  /** Why `previous` cannot be rolled to now (Railway's canRollback false, a paused Deployment). */
  blocked?: string;
  /** What else the snapshot records (container state, replicas ready, health). */
  detail?: Record<string, unknown>;
}


/** Health over a window, from two scrapes of a metrics source (src/providers/health/window.ts). */
export interface WindowHealth {
  seconds: number;
  requests: number;
  errors: number;
  /** Percent of requests answered 5xx. */
  errorRatePct: number;
  /** Percent of requests answered 2xx or 3xx. */
  successRatePct: number;
  /** null when no request in the window was observed by the histogram. */
  p95Ms: number | null;
}

export type RollbackState = 'running' | 'awaiting_approval' | 'awaiting_decision' | 'compensating' | 'completed' | 'failed' | 'aborted';

export type StepKind = 'preflight' | 'snapshot' | 'change' | 'verify' | 'gate' | 'notify' | 'report' | 'pause';
export type StepOutcome = 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensated' | 'compensation_failed' | 'aborted';

export interface StepRecord {
  name: string;
  kind: StepKind;
  description: string;
  startedAt: string;
  endedAt: string | null;
  outcome: StepOutcome;
  /** How many times the operator had the step run (1 unless `decide retry`). */
  runs: number;
  error?: string;
}

/** Every approval, rejection, refusal, decision, escalation, timeout and abort, with who and when. */
export interface AuditEvent {
  at: string;
  kind: 'approved' | 'rejected' | 'refused' | 'decided' | 'escalated' | 'timed_out' | 'abort_requested';
  by: string;
  gate?: string;
  step?: string;
  detail: string;
  /** A signed request's key fingerprint (`SHA256:...`, as `ssh-keygen -lf` prints it). */
  key?: string;
}

export interface PendingGate {
  gate: string;
  /** What passing the gate lets happen, in words ("cleanup"). */
  before: string;
  role: string;
  approvers: string[];
  required: number;
  approvedBy: string[];
  forbidRequester: boolean;
  escalateAt: string | null;
  deadline: string;
  onTimeout: 'abort' | 'approve';
  /** Approvals and rejections here must be signed (`rollback approve --key`, `rollback sign`). */
  signed?: boolean;
}

export interface PendingDecision {
  step: string;
  error: string;
  actions: DecisionAction[];
  deciders: string[];
  deadline: string;
  onTimeout: 'abort' | 'compensate';
  /** Decisions here must be signed. */
  signed?: boolean;
}

/** What a replica loaded when it started (config values, secret version numbers; never a secret's value). */
export interface ReplicaBoot {
  replica: number | string;
  pid?: number;
  startedAt: string;
  config: Record<string, string>;
  secretVersions: Record<string, number>;
}

/** One thing a rollback changes, as it was before: what compensation puts back, exactly. */
export type CapturedValue =
  | { kind: 'flag'; provider: string; flag: string; enabled: boolean }
  | { kind: 'config'; provider: string; values: Record<string, string | null> }
  | { kind: 'secret-version'; provider: string; secret: string; versions: { version: number; state: 'ENABLED' | 'DISABLED' }[]; current: number | null }
  | { kind: 'kill-switch'; provider: string; feature: string; on: boolean }
  | { kind: 'restart'; provider: string; target: string; replicas: ReplicaBoot[] }
  | { kind: 'keyspace'; provider: string; keyspace: string; pattern: string; keys: number }
  | { kind: 'git-head'; provider: string; branch: string; head: string }
  /** How many instances a scale action's target runs. */
  | { kind: 'instances'; provider: string; target: string; count: number }
  /** A container volume: whether it exists, the containers using it, its backups (the last 10 names). */
  | { kind: 'volume'; name: string; volume: string; exists: boolean; usedBy: string[]; backups: string[] }
  /** What a release action's target serves, the release before it, and the releases its actions name, found by name. */
  | { kind: 'release'; provider: string; target: string; current: Release | null; previous: Release | null; named: Record<string, Release> }
  /**
   * An app secret where the platform keeps no versions: its digest, null when it is not set. Never a
   * value. `app` is the platform's name for the target (Fly's app), for a command typed by hand; absent
   * in histories from before it was recorded.
   */
  | { kind: 'app-secret'; provider: string; target: string; name: string; digest: string | null; app?: string }
  /** A Cloud SQL instance to clone: its connection name, the clone's name and moment (fixed at the snapshot), and the service's config value naming the instance. */
  | { kind: 'cloudsql-clone'; provider: string; instance: string; connectionName: string; clone: string; pointInTime: string; service: { provider: string; key: string; value: string | null } }
  /** A SQLite database file, its backups (the last 10 names) and how many instances of its writer run. */
  | { kind: 'sqlite'; database: string; path: string; bytes: number | null; backups: string[]; writer: { target: string; instances: number } | null }
  /** What a command action's `capture` printed before anything changed: stdout trimmed, secrets masked, cut at a few KB (`truncated`). */
  | { kind: 'command-output'; provider: string; argv: string[]; output: string; truncated?: boolean; durationMs: number };

export interface Snapshot {
  takenAt: string;
  /** Weights and instance counts (rollbacks that move traffic). */
  traffic?: TrafficState;
  /** Health over a short window before any change; null when it could not be measured. */
  baseline: WindowHealth | null;
  /** Every other value the rollback changes (phase and config rollbacks). */
  values?: CapturedValue[];
  /** The current and previous release of each target (full rollbacks of a runbook's release section). */
  releases?: ReleaseState[];
}

export interface HealthVerdict {
  passed: boolean;
  /** Why it did not pass, one reason a line; empty when it passed. */
  reasons: string[];
  /** The metrics over the window judged (with stages: the last measurement's). */
  window: WindowHealth | null;
  /** Each check's last result; `detail` says what it saw and what was expected when it failed. */
  checks: { name: string; passed: boolean; detail: string }[];
  /** With staged thresholds: each stage, in the order of their times. */
  stages?: StageOutcome[];
}

/** One stage of a staged verification (seed 000: "error rate < 1% within 5 minutes"). */
export interface StageOutcome {
  name: string;
  /** By when, after the change, it had to hold. */
  withinSeconds: number;
  /** `not_reached`: verification ended (an earlier stage missed) before it was judged. */
  outcome: 'met' | 'missed' | 'not_reached';
  /** Seconds after the change when it was met or missed. */
  atSeconds: number | null;
  /** Why the last measurement did not meet it; empty when met. */
  reasons: string[];
}

/**
 * What a dry run found that a real run would be refused at (an unknown flag, a missing backup), with
 * what clears it: the command to run, or null when the problem names the fix itself.
 */
export interface Blocker {
  problem: string;
  fix: string | null;
}

/** One of the runbook's preflight checks as it ran before anything changed: what it saw, and what it expected when it failed. */
export interface PreflightResult {
  name: string;
  kind: 'sql' | 'http' | 'command' | 'release';
  passed: boolean;
  /** "first row {\"pending\":0}" when it passed; "$.pending is 3, expected 0" when not. */
  detail: string;
}

export interface RollbackStatus {
  workflowType: string;
  workflowId: string;
  system: string;
  reason: string;
  requestedBy: string;
  dryRun: boolean;
  startedAt: string;
  endedAt: string | null;
  /** When the incident was detected, if the requester said (input `detectedAt`); for the RTO scorecard. */
  detectedAt: string | null;
  state: RollbackState;
  currentStep: string | null;
  details: string;
  steps: StepRecord[];
  pendingGate: PendingGate | null;
  pendingDecision: PendingDecision | null;
  events: AuditEvent[];
  snapshot: Snapshot | null;
  plan: unknown;
  /** A dry run's findings that would refuse a real run, every one of them; empty otherwise. */
  blockers: Blocker[];
  /** Each of the runbook's preflight checks with its live result; absent in rollbacks from before them. */
  preflight?: PreflightResult[];
  healthAfter: HealthVerdict | null;
  /** Time spent waiting for `decide` after failed steps (gates are steps of kind 'gate'). */
  decisionWaitMs: number;
  /** What was changed beyond traffic, in words for the report (e.g. the SQL a schema rollback ran). */
  notes: string[];
  /** Undo steps that failed during compensation: what was not restored. */
  compensationFailures: string[];
  report: string | null;
}

/** What one interval of a watchdog measured (src/activities/watch.ts). */
export interface WatchObservation {
  /** The end of the interval (ISO 8601). */
  at: string;
  /** Rates over the interval; null when the metrics could not be read. */
  window: WindowHealth | null;
  /** Each rule's gauge selector to its value (the highest matching series), null when no series matches. */
  gauges: Record<string, number | null>;
  /** Why nothing could be measured, e.g. the metrics endpoint refused. */
  problem: string | null;
}

export type WatchVerdict = 'healthy' | 'breach' | 'inconclusive';

/** One rule judged against one interval. */
export interface RuleEvaluation {
  rule: string;
  value: number | null;
  verdict: WatchVerdict;
  /** e.g. "error rate 14.2% above 10%" or "inconclusive: 3 requests in 30 s, at least 20 needed". */
  detail: string;
}

/** watching; paused by someone; following what it started (a rollback, or a scale-up until its deadline). */
export type WatchdogState = 'watching' | 'paused' | 'following';

export interface WatchdogRuleView {
  name: string;
  /** "error rate above 10% for 2 evaluations (60 s): start an immediate fullRollback" */
  description: string;
  needed: number;
  streak: number;
  firstBreachAt: string | null;
  /** False after it acted, until it has been healthy again. */
  armed: boolean;
  last: RuleEvaluation | null;
  /** What it would do now: "nothing: healthy", "acts after 1 more breach", ... */
  wouldDo: string;
}

/** Something a rule made the watchdog do. */
export interface WatchdogAction {
  rule: string;
  at: string;
  /** The first breach of the run that triggered it: the incident's detection time. */
  detectedAt: string | null;
  what: string;
  workflowId: string | null;
  /** How what it started ended ("completed", "failed", ...), or how the scale-up was resolved; null while it runs. */
  outcome: string | null;
}

export interface WatchdogEvent {
  at: string;
  kind: 'started' | 'paused' | 'resumed' | 'refused' | 'inconclusive' | 'conclusive' | 'stopped';
  by: string | null;
  detail: string;
}

/** What rollbackWatchdog's `status` query returns. */
export interface WatchdogStatus {
  system: string;
  state: WatchdogState;
  startedBy: string;
  intervalSeconds: number;
  paused: { by: string; reason: string; until: string | null } | null;
  /** What it follows while state is `following`. */
  following: WatchdogAction | null;
  rules: WatchdogRuleView[];
  /** The newest evaluations, oldest first (bounded; older ones are in earlier runs' histories). */
  evaluations: { at: string; results: RuleEvaluation[] }[];
  /** Evaluations since the watchdog started, across continue-as-new. */
  evaluationsTotal: number;
  actions: WatchdogAction[];
  events: WatchdogEvent[];
}

/** One stage of a drill against its RTO target (the runbook's rto, in seconds). */
export interface DrillStage {
  stage: 'detection' | 'decision' | 'execution' | 'verification' | 'total';
  /** null when the drill did not get that far. */
  seconds: number | null;
  targetSeconds: number;
  met: boolean | null;
  /** Why a stage could not be scored (a read-only drill waits at no gate; no watch rules to detect with). */
  unscored?: string;
}

/** One read-only check of a drill: a gate's approvers, a notify channel, a provider read by the dry run. */
export interface DrillCheck {
  check: string;
  ok: boolean;
  detail: string;
}

/** What rollbackDrill returns, and what the drill report and its chart are drawn from. */
export interface DrillResult {
  system: string;
  drill: string;
  workflowId: string;
  startedAt: string;
  endedAt: string;
  dryRun: boolean;
  /** When the scenario was injected: the incident's start. */
  injectedAt: string | null;
  /** The rollback the watchdog started (or the dry run the drill started). */
  rollbackWorkflowId: string | null;
  rollbackState: string | null;
  /** passed: detected, rolled back, verified, and the target put back; failed otherwise (why says where). */
  outcome: 'passed' | 'failed';
  why: string | null;
  stages: DrillStage[];
  /** What was put back afterwards, e.g. "fault canary: errorRatePct 50 -> 0". */
  restored: string[];
  /** The system injected into and rolled back, when the drill names a staging system (absent: `system`). */
  target?: string;
  /** Who started the rollback: the watchdog (detection measured), or the drill itself (the target has no watch rules). */
  detectedBy?: 'watchdog' | 'drill';
  /** A scenario's undo, which always runs: what it did, and why it failed if it did. */
  undo?: { done: string[]; failed: string | null };
  /** A read-only drill's checks (gates' approvers, notify channels, providers read by its dry runs). */
  checks?: DrillCheck[];
  /** Where the drill's report was written (on the worker), and its chart. */
  reportPath: string | null;
  chartPath: string | null;
}

/** What rollbackDrill's `status` query answers: where the drill stands, and its result once it has one. */
export interface DrillStatus {
  system: string;
  drill: string;
  state: 'starting' | 'injecting' | 'detecting' | 'rolling-back' | 'verifying' | 'restoring' | 'passed' | 'failed';
  detail: string;
  injectedAt: string | null;
  rollbackWorkflowId: string | null;
  result: DrillResult | null;
}
