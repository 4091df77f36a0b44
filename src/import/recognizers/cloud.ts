/**
 * gcloud (Cloud Run traffic, revisions, env and secrets; Cloud SQL), kubectl and helm.
 * https://cloud.google.com/sdk/gcloud/reference/run/services/update-traffic
 * https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_undo/
 */
import { absorbed, destructive, fill, hasFlag, isPlaceholderWord, meansPrevious, opaque, option, positionals, slug, typed, unmapped, valueOr, type DocFacts, type Emission, type Recognizer } from '../verdict.ts';

const GCLOUD_VALUED = ['--region', '--project', '--format', '--limit', '--service', '--image', '--to-revisions', '--update-env-vars', '--update-secrets', '--version', '--point-in-time', '--instance', '--restore-instance', '--backup-instance', '--path', '--freshness'];

function cloudRun(service: string, argv: readonly string[], facts: DocFacts): { provider: string; emit: Emission } {
  facts.lastService = service;
  const name = `cloud-run-${slug(service)}`;
  const settings = { project: valueOr(option(argv, '--project'), 'Google Cloud project of the service'), location: valueOr(option(argv, '--region'), 'Cloud Run region'), service, tokenEnv: 'GCP_ACCESS_TOKEN' };
  return { provider: name, emit: { provider: name, ref: { provider: 'cloud-run', settings } } };
}

/** `A=50,B=50` -> [[A, 50], [B, 50]]. */
function splits(spec: string): [string, number][] | null {
  const parts = spec.split(',').map((p) => p.split('='));
  if (parts.some((p) => p.length !== 2 || !/^\d+$/.test(p[1]!))) return null;
  return parts.map((p) => [p[0]!, Number(p[1])]);
}

export const gcloud: Recognizer = (cmd, ctx) => {
  const argv = cmd.argv.slice(1);
  const words = positionals(argv, GCLOUD_VALUED);
  const [group, noun, verb] = words;
  // A revision or service deleted is the release a Cloud Run rollback goes back to, gone for good.
  if (group === 'run' && (noun === 'revisions' || noun === 'services') && verb === 'delete') {
    return destructive(`gcloud run ${noun} delete removes what a rollback goes back to; leave it (a revision at 0% traffic serves nothing)`);
  }
  if (['list', 'describe', 'read', 'get-iam-policy', 'print-access-token', 'tail'].includes(words.at(-2) ?? '') || ['list', 'describe', 'read', 'tail'].some((v) => words.includes(v))) {
    return absorbed(`gcloud ${words.slice(0, 3).join(' ')}: read-only (the snapshot reads revisions, traffic and config)`);
  }
  if (group === 'run' && noun === 'services' && verb === 'update-traffic') {
    const service = valueOr(words[3], 'Cloud Run service');
    const run = cloudRun(service, argv, ctx.facts);
    const spec = option(argv, '--to-revisions');
    if (hasFlag(argv, '--to-latest')) return typed('release', service, 'LATEST', 'update-traffic --to-latest -> release to the latest revision', run.emit, { action: { release: { target: service, to: 'LATEST' }, provider: run.provider } });
    const split = spec ? splits(spec) : null;
    if (!split) return opaque('gcloud run services update-traffic with no --to-revisions the draft can read');
    if (split.length === 1 && split[0]![1] === 100) {
      const [revision] = split[0]!;
      const to = meansPrevious(revision) ? 'previous' : valueOr(revision, 'revision to roll back to');
      return typed('release', service, to, 'update-traffic of 100% to one revision -> release of the service to that revision', run.emit, { action: { release: { target: service, to }, provider: run.provider } });
    }
    const seen = ctx.facts.splits.get(service) ?? [];
    seen.push(split);
    ctx.facts.splits.set(service, seen);
    const [stable, canary] = split;
    const traffic = {
      provider: 'cloud-run',
      settings: { ...(run.emit as { ref: { settings: object } }).ref.settings, versions: { stable: stable![0], canary: canary![0] } },
      gradualSteps: [canary![1], 0],
    };
    return typed('traffic', service, spec!, 'update-traffic split between revisions -> the traffic section, stable and canary revisions and the canary weights as gradual steps', { path: ['traffic'], value: traffic });
  }
  if (group === 'run' && noun === 'services' && verb === 'update') {
    const service = valueOr(words[3], 'Cloud Run service');
    const run = cloudRun(service, argv, ctx.facts);
    const env = option(argv, '--update-env-vars', '--set-env-vars');
    const secrets = option(argv, '--update-secrets');
    if (env) {
      // `KEY=old_value`: the genre writes the variable and the value before as words for the reader to fill;
      // the draft keeps the config step with each as a named placeholder, which the loader refuses until filled.
      const config = Object.fromEntries(env.split(',').map((p) => {
        const [key = '', ...rest] = p.split('=');
        const value = rest.join('=');
        const name = /^(KEY|VAR|NAME|ENV_VAR|VARIABLE)$/.test(key) || isPlaceholderWord(key) && !/^[A-Z][A-Z0-9_]*$/.test(key) ? fill(`environment variable to put back (the document writes ${key})`) : key;
        const before = value === '' || /^(old|previous|prev)[-_]?value$/i.test(value) || isPlaceholderWord(value) ? fill(`the value ${name.startsWith('<FILL') ? 'it' : key} had before (the document writes ${value || 'nothing'})`) : value;
        return [name, before];
      }));
      const shown = Object.values(config).some((v) => v.startsWith('<FILL')) || Object.keys(config).some((k) => k.startsWith('<FILL')) ? fill(`the variable and its value before (the document writes ${env})`) : env;
      return typed('config', service, shown, 'update --update-env-vars -> config of the service (a new revision)', run.emit, { action: { config, provider: run.provider } });
    }
    if (secrets) {
      const [, ref] = secrets.split('=');
      const [secret, version] = (ref ?? '').split(':');
      if (!secret) return opaque('gcloud run services update --update-secrets: no SECRET:VERSION');
      const to = version === undefined || meansPrevious(version) ? 'previous' : /^\d+$/.test(version) ? Number(version) : fill(`version of secret ${secret} (the document writes ${version})`);
      return typed('secret-version', secret, String(to), 'update --update-secrets -> the service pinned to a secret version', run.emit, { action: { 'secret-version': secret, to, provider: run.provider } });
    }
    return opaque('gcloud run services update: no env or secret change the draft can read');
  }
  if (group === 'run' && noun === 'deploy') {
    const service = valueOr(words[2], 'Cloud Run service');
    const image = option(argv, '--image');
    if (!image) return opaque('gcloud run deploy from source: the draft cannot tell which release that is');
    const run = cloudRun(service, argv, ctx.facts);
    const to = valueOr(image, 'image to roll back to');
    return typed('release', service, to, 'gcloud run deploy --image -> release of the service to that image', run.emit, { action: { release: { target: service, to }, provider: run.provider } });
  }
  if (group === 'secrets' && noun === 'versions' && (verb === 'enable' || verb === 'disable')) {
    // Enabling or disabling a version points no service at it: a service pinned to `latest` or to a number
    // reads the same version before and after. The step that rolls the secret back is the service's
    // --update-secrets=NAME=NAME:VERSION (secret-version); this one is kept for review.
    return opaque(`gcloud secrets versions ${verb} changes which versions can be read, not which one the service reads (that is gcloud run services update --update-secrets)`);
  }
  if (group === 'sql' && noun === 'backups' && verb === 'restore') {
    return destructive('gcloud sql backups restore overwrites the live instance (everything since the backup is lost); clone to a new instance and verify it first (a cloudsql-clone action)');
  }
  if (group === 'sql' && noun === 'instances' && (verb === 'delete' || verb === 'restore-backup')) return destructive(`gcloud sql instances ${verb} replaces or deletes the live instance`);
  if (group === 'auth' || group === 'config') return unmapped(`gcloud ${group}: sets up the operator's own gcloud`);
  return opaque(`gcloud ${words.slice(0, 3).join(' ')}: no typed action for it`);
};

const KUBECTL_VALUED = ['-n', '--namespace', '--context', '-l', '--selector', '-o', '--output', '-c', '--container', '--replicas', '--to-revision', '--tail', '--since', '-f', '--filename', '--timeout'];

function deployment(ref: string | undefined, next: string | undefined): string | null {
  if (!ref) return null;
  const m = /^(?:deployments?|deploy)(?:\.apps)?\/(.+)$/.exec(ref);
  if (m) return m[1]!;
  if (/^(deployments?|deploy)$/.test(ref) && next) return next;
  return null;
}

function kube(target: string, argv: readonly string[]): { provider: string; emit: Emission } {
  const namespace = option(argv, '-n', '--namespace');
  const name = `kubernetes-${slug(namespace ?? 'default')}`;
  const settings = { namespace: namespace ? valueOr(namespace, 'namespace') : fill('namespace of the Deployments (the document gives no -n)'), deployments: { [target]: target }, kubeconfigEnv: 'KUBECONFIG' };
  return { provider: name, emit: { provider: name, ref: { provider: 'kubernetes', settings } } };
}

export const kubectl: Recognizer = (cmd) => {
  const argv = cmd.argv.slice(1);
  const words = positionals(argv, KUBECTL_VALUED);
  const [verb, sub] = words;
  if (['get', 'describe', 'logs', 'top', 'explain', 'diff', 'version', 'api-resources', 'events', 'cluster-info'].includes(verb ?? '') || (verb === 'auth' && sub === 'can-i')) {
    return absorbed(`kubectl ${verb}: read-only`);
  }
  if (verb === 'rollout' && (sub === 'status' || sub === 'history')) return absorbed(`kubectl rollout ${sub}: read-only (the dry run shows the revision it rolls to)`);
  if (verb === 'rollout' && (sub === 'undo' || sub === 'restart')) {
    const target = deployment(words[2], words[3]);
    if (!target) return opaque(`kubectl rollout ${sub} of something other than a Deployment`);
    const name = valueOr(target, 'Deployment');
    const k = kube(name, argv);
    if (sub === 'restart') return typed('restart', name, 'restart', 'kubectl rollout restart -> restart of the Deployment', k.emit, { action: { restart: name, provider: k.provider } });
    const revision = option(argv, '--to-revision');
    const to = revision ? valueOr(revision, 'ReplicaSet revision') : 'previous';
    return typed('release', name, to, 'kubectl rollout undo -> release of the Deployment to the revision before (or the one named)', k.emit, { action: { release: { target: name, to }, provider: k.provider } });
  }
  if (verb === 'scale') {
    const target = deployment(words[1], words[2]);
    const replicas = option(argv, '--replicas');
    if (!target || !replicas || !/^\d+$/.test(replicas)) return opaque('kubectl scale of something other than a Deployment to a plain count');
    const name = valueOr(target, 'Deployment');
    const k = kube(name, argv);
    return typed('scale', name, replicas, 'kubectl scale -> scale of the Deployment', k.emit, { action: { scale: { target: name, instances: Number(replicas) }, provider: k.provider } });
  }
  if (verb === 'set' && sub === 'image') {
    const target = deployment(words[2], undefined);
    const pair = words.find((w, i) => i > 2 && w.includes('='));
    if (!target || !pair || words.filter((w, i) => i > 2 && w.includes('=')).length !== 1) return opaque('kubectl set image of several containers or not a Deployment');
    const name = valueOr(target, 'Deployment');
    const k = kube(name, argv);
    const image = valueOr(pair.split('=').slice(1).join('='), 'image');
    return typed('release', name, image, 'kubectl set image -> release of the Deployment to that image', k.emit, { action: { release: { target: name, to: image }, provider: k.provider } });
  }
  if (verb === 'delete' && (['namespace', 'ns', 'pvc', 'pv', 'persistentvolumeclaim', 'statefulset', 'sts', 'deployment', 'deploy'].includes((sub ?? '').split('/')[0]!) || hasFlag(argv, '--all'))) {
    return destructive(`kubectl delete ${sub}: deletes what a rollback must keep (its data or the workload itself); scale it to 0 or roll it back instead`);
  }
  if (verb === 'exec' || verb === 'port-forward' || verb === 'attach' || verb === 'edit') return verb === 'exec' && !hasFlag(argv, '-it', '-ti', '-i') ? opaque('kubectl exec runs a command in a pod') : unmapped(`kubectl ${verb} is interactive`);
  if (verb === 'config') return unmapped('kubectl config sets up the operator\'s own kubeconfig');
  return opaque(`kubectl ${verb ?? ''}: no typed action for it`);
};

export const helm: Recognizer = (cmd) => {
  const [verb] = positionals(cmd.argv.slice(1), ['-n', '--namespace', '--kube-context', '-o', '--output', '--max']);
  if (['history', 'status', 'list', 'ls', 'get', 'show', 'template', 'diff', 'version'].includes(verb ?? '')) return absorbed(`helm ${verb}: read-only`);
  if (verb === 'uninstall' || verb === 'delete') return destructive('helm uninstall removes the release and its resources; roll it back instead');
  return opaque(`helm ${verb ?? ''}: no helm provider; a command action to review`);
};
