/**
 * An emulator of the Cloud SQL Admin API v1 calls the cloud-sql provider makes, for one project:
 *   GET   /v1/projects/{p}/instances/{i}                          instances.get (DatabaseInstance)
 *   GET   /v1/projects/{p}/instances/{i}/getLatestRecoveryTime    {kind, latestRecoveryTime, earliestRecoveryTime}
 *   POST  /v1/projects/{p}/instances/{i}/clone                    {cloneContext: {destinationInstanceName, pointInTime}} -> Operation CLONE
 *   PATCH /v1/projects/{p}/instances/{i}                          {settings: {userLabels}} -> Operation UPDATE
 *   GET   /v1/projects/{p}/operations/{o}                         operations.get
 *   GET   /v1/projects/{p}/operations?instance={i}                operations.list, newest first
 * Operations take `operationMs`: PENDING for its first fifth, RUNNING until it has passed, then DONE,
 * their effect applied then (a clone's new instance exists from the POST on, PENDING_CREATE until its
 * operation is DONE, then RUNNABLE; a label patch is seen once DONE). A clone's operation names the new
 * instance as `targetId`, as the reference's example answer does. A patch's `userLabels` replaces the
 * map (the conservative reading of "patch semantics" for a map field).
 *
 * The recovery window of an instance runs from `earliestRecoveryTime` (by default now less its log
 * retention days) to now. Failures, in Google's error body ({error: {code, message, errors, status}}):
 * a wrong bearer token (401), an unknown instance or operation (404 "The Cloud SQL instance does not
 * exist."), a clone to an existing name (409 "The Cloud SQL instance already exists."), a point in time
 * outside the window or an instance without point-in-time recovery (400; the wording is the
 * emulator's own: the reference documents the status, not the sentence), and `failNext` replies.
 *
 * Reference (Cloud SQL Admin API v1):
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances (DatabaseInstance, Settings, BackupConfiguration)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/clone (CloneContext)
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/patch
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/projects.instances/getLatestRecoveryTime
 *   https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/operations (Operation, get, list)
 *   https://cloud.google.com/sql/docs/postgres/clone-instance (the clone's Operation answer)
 *   https://cloud.google.com/sql/docs/postgres/admin-api-error-messages
 */
import { randomUUID } from 'node:crypto';
import { HttpEmulator, type RecordedRequest, type Reply } from './http-emulator.ts';

const DAY_MS = 86_400_000;

export interface EmulatedInstance {
  kind: 'sql#instance';
  name: string;
  project: string;
  region: string;
  state: 'RUNNABLE' | 'PENDING_CREATE' | 'MAINTENANCE' | 'FAILED' | 'SUSPENDED';
  databaseVersion: string;
  connectionName: string;
  settings: {
    tier: string;
    userLabels: Record<string, string>;
    backupConfiguration: { kind: 'sql#backupConfiguration'; enabled: boolean; pointInTimeRecoveryEnabled: boolean; transactionLogRetentionDays: number; startTime: string };
    settingsVersion: string;
  };
  /** The emulator's own: where the recovery window starts. */
  earliestRecoveryTime: string;
  /** The emulator's own: the instance and point in time a clone was made from. */
  clonedFrom?: { source: string; pointInTime: string };
}

export interface EmulatedOperation {
  kind: 'sql#operation';
  name: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  operationType: 'CLONE' | 'UPDATE';
  targetId: string;
  targetProject: string;
  targetLink: string;
  selfLink: string;
  user: string;
  insertTime: string;
  startTime?: string;
  endTime?: string;
  error?: { kind: 'sql#operationErrors'; errors: { kind: 'sql#operationError'; code: string; message: string }[] };
}

const googleError = (code: number, status: string, reason: string, message: string): Reply => ({
  status: code,
  body: { error: { code, message, errors: [{ message, domain: 'global', reason }], status } },
});
const copy = <T>(value: T): T => structuredClone(value);

export class CloudSqlEmulator extends HttpEmulator {
  readonly instances = new Map<string, EmulatedInstance>();
  readonly operations = new Map<string, EmulatedOperation & { doneAt: number; apply: () => void }>();
  private readonly base: string;

  constructor(
    token: string,
    readonly project: string,
    /** How long an operation takes from its POST to DONE. */
    public operationMs = 150,
    private readonly user = 'oncall@clinic.example',
  ) {
    super('Cloud SQL Admin', token, () => googleError(401, 'UNAUTHENTICATED', 'authError', 'Request had invalid authentication credentials. Expected OAuth 2 access token.'));
    this.base = `https://sqladmin.googleapis.com/v1/projects/${project}`;
    const instance = '/v1/projects/:project/instances/:instance';
    this.route('GET', instance, (_r, p) => this.withInstance(p, (i) => ({ status: 200, body: shown(i) })));
    this.route('GET', `${instance}/getLatestRecoveryTime`, (_r, p) => this.withInstance(p, (i) => this.recoveryTime(i)));
    this.route('POST', `${instance}/clone`, (r, p) => this.withInstance(p, (i) => this.clone(i, r)));
    this.route('PATCH', instance, (r, p) => this.withInstance(p, (i) => this.patch(i, r)));
    this.route('GET', '/v1/projects/:project/operations/:operation', (_r, p) => this.operation(p));
    this.route('GET', '/v1/projects/:project/operations', (r, p) => this.listOperations(p, r));
  }

  /** An instance as it runs in production, point-in-time recovery on by default. */
  addInstance(name: string, options: { labels?: Record<string, string>; retentionDays?: number; pitr?: boolean; earliestRecoveryTime?: string; databaseVersion?: string } = {}): EmulatedInstance {
    const retentionDays = options.retentionDays ?? 7;
    const instance: EmulatedInstance = {
      kind: 'sql#instance',
      name,
      project: this.project,
      region: 'europe-west3',
      state: 'RUNNABLE',
      databaseVersion: options.databaseVersion ?? 'POSTGRES_15',
      connectionName: `${this.project}:europe-west3:${name}`,
      settings: {
        tier: 'db-custom-2-7680',
        userLabels: { ...options.labels },
        backupConfiguration: { kind: 'sql#backupConfiguration', enabled: options.pitr ?? true, pointInTimeRecoveryEnabled: options.pitr ?? true, transactionLogRetentionDays: retentionDays, startTime: '03:00' },
        settingsVersion: '1',
      },
      earliestRecoveryTime: options.earliestRecoveryTime ?? new Date(Date.now() - retentionDays * DAY_MS).toISOString(),
    };
    this.instances.set(name, instance);
    return instance;
  }

  /** POSTs of clone answered so far (refused ones included). */
  clonePosts(): RecordedRequest[] {
    return this.calls('POST', /\/clone$/);
  }

  /** Finishes the operations whose time has come, applying their effect. */
  private tick(): void {
    const now = Date.now();
    for (const op of this.operations.values()) {
      if (op.status === 'DONE') continue;
      if (now >= op.doneAt) {
        op.status = 'DONE';
        op.endTime = new Date(now).toISOString();
        op.apply();
      } else if (op.status === 'PENDING' && now >= op.doneAt - (this.operationMs * 4) / 5) {
        op.status = 'RUNNING';
        op.startTime = new Date(now).toISOString();
      }
    }
  }

  private withInstance(params: Record<string, string>, then: (instance: EmulatedInstance) => Reply): Reply {
    this.tick();
    const instance = params.project === this.project ? this.instances.get(params.instance!) : undefined;
    return instance ? then(instance) : googleError(404, 'NOT_FOUND', 'instanceDoesNotExist', 'The Cloud SQL instance does not exist.');
  }

  private begin(type: EmulatedOperation['operationType'], target: string, apply: () => void): EmulatedOperation {
    const name = randomUUID();
    const op = {
      kind: 'sql#operation' as const,
      name,
      status: 'PENDING' as const,
      operationType: type,
      targetId: target,
      targetProject: this.project,
      targetLink: `${this.base}/instances/${target}`,
      selfLink: `${this.base}/operations/${name}`,
      user: this.user,
      insertTime: new Date().toISOString(),
      doneAt: Date.now() + this.operationMs,
      apply,
    };
    this.operations.set(name, op);
    return visible(op);
  }

  private recoveryTime(instance: EmulatedInstance): Reply {
    if (!instance.settings.backupConfiguration.pointInTimeRecoveryEnabled) return googleError(400, 'INVALID_ARGUMENT', 'invalid', `Point-in-time recovery is not enabled for instance ${instance.name}.`);
    return { status: 200, body: { kind: 'sql#getLatestRecoveryTime', latestRecoveryTime: new Date().toISOString(), earliestRecoveryTime: instance.earliestRecoveryTime } };
  }

  private clone(source: EmulatedInstance, request: RecordedRequest): Reply {
    const context = (request.body as { cloneContext?: { destinationInstanceName?: string; pointInTime?: string } } | null)?.cloneContext;
    const destination = context?.destinationInstanceName;
    if (!destination || !/^[a-z][-a-z0-9]*$/.test(destination)) return googleError(400, 'INVALID_ARGUMENT', 'invalid', 'Invalid request: cloneContext.destinationInstanceName is missing or not a valid instance name.');
    if (this.instances.has(destination)) return googleError(409, 'ALREADY_EXISTS', 'instanceAlreadyExists', 'The Cloud SQL instance already exists.');
    if (!source.settings.backupConfiguration.pointInTimeRecoveryEnabled && context.pointInTime) {
      return googleError(400, 'INVALID_ARGUMENT', 'invalid', `Invalid request: point-in-time recovery is not enabled for instance ${source.name}.`);
    }
    const pointInTime = context.pointInTime ?? new Date().toISOString();
    const at = Date.parse(pointInTime);
    if (Number.isNaN(at) || at < Date.parse(source.earliestRecoveryTime) || at > Date.now()) {
      return googleError(400, 'INVALID_ARGUMENT', 'invalid', `Invalid request: the point in time ${pointInTime} is outside the recovery window of instance ${source.name} (${source.earliestRecoveryTime} to now).`);
    }
    const clone: EmulatedInstance = {
      ...copy(source),
      name: destination,
      state: 'PENDING_CREATE',
      connectionName: `${this.project}:${source.region}:${destination}`,
      earliestRecoveryTime: new Date().toISOString(),
      clonedFrom: { source: source.name, pointInTime },
    };
    this.instances.set(destination, clone);
    return { status: 200, body: this.begin('CLONE', destination, () => void (clone.state = 'RUNNABLE')) };
  }

  private patch(instance: EmulatedInstance, request: RecordedRequest): Reply {
    const labels = (request.body as { settings?: { userLabels?: Record<string, string> } } | null)?.settings?.userLabels;
    if (labels && Object.entries(labels).some(([k, v]) => !/^[a-z][-_a-z0-9]{0,62}$/.test(k) || !/^[-_a-z0-9]{0,63}$/.test(v))) {
      return googleError(400, 'INVALID_ARGUMENT', 'invalid', 'Invalid request: label keys and values may hold only lowercase letters, digits, - and _.');
    }
    return {
      status: 200,
      body: this.begin('UPDATE', instance.name, () => {
        if (labels) instance.settings.userLabels = { ...labels };
        instance.settings.settingsVersion = String(Number(instance.settings.settingsVersion) + 1);
      }),
    };
  }

  private operation(params: Record<string, string>): Reply {
    this.tick();
    const op = params.project === this.project ? this.operations.get(params.operation!) : undefined;
    return op ? { status: 200, body: visible(op) } : googleError(404, 'NOT_FOUND', 'operationDoesNotExist', 'The Cloud SQL operation does not exist.');
  }

  private listOperations(params: Record<string, string>, request: RecordedRequest): Reply {
    this.tick();
    const instance = request.query.get('instance');
    if (!instance) return googleError(400, 'INVALID_ARGUMENT', 'required', 'Invalid request: the instance parameter is required.');
    const items = [...this.operations.values()].filter((op) => params.project === this.project && op.targetId === instance).reverse().map(visible);
    return { status: 200, body: { kind: 'sql#operationsList', items } };
  }
}

/** The operation as the API shows it. */
function visible(op: EmulatedOperation & { doneAt?: number; apply?: () => void }): EmulatedOperation {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the emulator's own
  const { doneAt, apply, ...shown } = op;
  return copy(shown);
}

/** The instance as the API shows it. */
function shown(instance: EmulatedInstance): unknown {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the emulator's own
  const { earliestRecoveryTime, clonedFrom, ...rest } = instance;
  return copy(rest);
}
