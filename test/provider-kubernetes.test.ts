/**
 * The kubernetes provider (client-node's AppsV1Api/CoreV1Api) against an emulator of the Kubernetes
 * API server and its Deployment controller (test/emulators/kubernetes.ts), over real HTTP: replicas
 * read and set through /scale, releases read from the Deployment's ReplicaSets, `kubectl rollout undo`
 * and `kubectl rollout restart` done as kubectl does them and waited for as `kubectl rollout status`
 * waits, each change repeated with the same key changing nothing more, and each failure (401, 404,
 * 409, 429 with Retry-After, 5xx, a paused Deployment, a progress deadline, a timeout) named plainly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { kubernetes } from '../src/providers/kubernetes/kubernetes.ts';
import { selectorString } from '../src/providers/kubernetes/objects.ts';
import { RESTART_KEY } from '../src/providers/kubernetes/restarts.ts';
import type { ProviderClient } from '../src/providers/types.ts';
import { k8sStatus, KubernetesEmulator, parseSelector } from './emulators/kubernetes.ts';
import { quietLogger } from './harness.ts';

const TOKEN = 'k8s-test-token-4f1c9a';
const WEB = ['registry.example/web:1.0', 'registry.example/web:1.1'];
const change = (idempotencyKey: string) => ({ idempotencyKey, actor: 'test' });
const DEPLOYMENT_PATH = /^\/apis\/apps\/v1\/namespaces\/prod\/deployments\/web$/;

let k8s: KubernetesEmulator;
let client: ProviderClient<'scaling' | 'releases' | 'restarts'>;

function clientWith(settings: Record<string, unknown> = {}, env: Record<string, string> = { K8S_TOKEN: TOKEN }) {
  const parsed = kubernetes.settingsSchema.parse({
    server: k8s.url,
    tokenEnv: 'K8S_TOKEN',
    namespace: 'prod',
    deployments: { stable: 'web', canary: 'web-canary' },
    pollIntervalMs: 5,
    rolloutTimeoutSeconds: 5,
    ...settings,
  });
  return kubernetes.create(parsed, { env, logger: quietLogger });
}

describe('kubernetes provider against an emulator of the documented API (Deployments, Scale, ReplicaSets, Pods)', () => {
  beforeEach(async () => {
    k8s = await new KubernetesEmulator(TOKEN).start();
    k8s.addDeployment({
      namespace: 'prod',
      name: 'web',
      replicas: 4,
      images: WEB,
      changeCauses: ['deploy 1.0', 'deploy 1.1'],
      env: { LOG_LEVEL: 'info', DATABASE_URL: 'postgres://app:s3cret@db.internal/app' },
    });
    k8s.addDeployment({ namespace: 'prod', name: 'web-canary', replicas: 1, images: ['registry.example/web:1.2'] });
    client = clientWith();
  });
  afterEach(() => k8s.stop());

  describe('scaling', () => {
    test('readState reads spec.replicas of each version through the /scale subresource, with the bearer token', async () => {
      assert.deepEqual(await client.scaling.readState(), { weights: {}, instances: { stable: 4, canary: 1 } });
      const reads = k8s.calls('GET', /\/scale$/);
      assert.deepEqual(reads.map((r) => r.path).sort(), ['/apis/apps/v1/namespaces/prod/deployments/web-canary/scale', '/apis/apps/v1/namespaces/prod/deployments/web/scale']);
      assert.ok(reads.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
    });

    test('scale replaces the Scale with the resourceVersion read, waits until the replicas are ready, and is undone by scaling back', async () => {
      const before = await client.scaling.readState();
      const after = await client.scaling.scale('canary', 3, change('wf-1:scale'));
      assert.deepEqual(after.instances, { stable: 4, canary: 3 });
      const [put] = k8s.calls('PUT', /\/scale$/);
      assert.equal(put!.path, '/apis/apps/v1/namespaces/prod/deployments/web-canary/scale');
      assert.deepEqual((put!.body as { spec: unknown }).spec, { replicas: 3 });
      assert.match((put!.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion, /^\d+$/);
      // The wait ended only when all three were ready and available.
      const status = k8s.get('prod', 'web-canary').status;
      assert.equal(status.readyReplicas, 3);
      assert.equal(status.availableReplicas, 3);

      const undone = await client.scaling.scale('canary', before.instances.canary!, change('wf-1:scale:undo'));
      assert.deepEqual(undone, before);
      assert.equal(k8s.get('prod', 'web-canary').status.replicas, 1, 'the surplus pods are gone before scale returns');
    });

    test('scaling to 0 waits until no pod is left', async () => {
      await client.scaling.scale('canary', 0, change('wf-0'));
      const status = k8s.get('prod', 'web-canary').status;
      assert.equal(status.replicas, undefined, 'the API server leaves a zero count out');
      assert.equal(k8s.replicaSetsOf('prod', 'web-canary').flatMap((rs) => k8s.podsOf(rs)).length, 0);
    });

    test('the same scale twice with the same key writes once', async () => {
      await client.scaling.scale('canary', 3, change('wf-2:scale'));
      await client.scaling.scale('canary', 3, change('wf-2:scale'));
      assert.equal(k8s.writes().length, 1);
    });

    test('a conflict (someone scaled it between our read and write) reads again and writes once more', async () => {
      k8s.changeAfterNextScaleRead('prod', 'web-canary', 5);
      const state = await client.scaling.scale('canary', 3, change('wf-3'));
      assert.equal(state.instances.canary, 3);
      const puts = k8s.calls('PUT', /\/scale$/);
      assert.equal(puts.length, 2);
      assert.notEqual((puts[0]!.body as any).metadata.resourceVersion, (puts[1]!.body as any).metadata.resourceVersion);
    });

    test('a conflict every time stops after three attempts, saying so', async () => {
      const body = k8sStatus(409, 'Conflict', 'Operation cannot be fulfilled on deployments.apps "web-canary": the object has been modified; please apply your changes to the latest version and try again');
      k8s.failNext({ status: 409, body }, { method: 'PUT', times: 3 });
      await assert.rejects(client.scaling.scale('canary', 3, change('wf-4')), {
        message:
          'Kubernetes PUT /apis/apps/v1/namespaces/prod/deployments/web-canary/scale answered 409: Operation cannot be fulfilled on deployments.apps "web-canary": the object has been modified; please apply your changes to the latest version and try again. Someone else changed it between our read and our write. deployment/web-canary in namespace prod met a conflict 3 times in a row: another client keeps changing it; find out who before running this step again.',
      });
    });
  });

  describe('releases', () => {
    test('readRelease: current is the ReplicaSet with the Deployment\'s revision, previous the highest below it', async () => {
      const state = await client.releases.readRelease('stable');
      assert.equal(state.target, 'stable');
      assert.deepEqual({ ...state.current, createdAt: undefined }, { id: '2', label: WEB[1], image: WEB[1], createdAt: undefined });
      assert.deepEqual({ ...state.previous, createdAt: undefined }, { id: '1', label: WEB[0], image: WEB[0], createdAt: undefined });
      assert.ok(Date.parse(state.previous!.createdAt!) < Date.parse(state.current!.createdAt!));
      assert.equal(state.blocked, undefined);
      assert.deepEqual(state.detail, {
        deployment: 'web',
        namespace: 'prod',
        revision: '2',
        paused: false,
        replicas: 4,
        updatedReplicas: 4,
        readyReplicas: 4,
        availableReplicas: 4,
        progressing: 'NewReplicaSetAvailable',
      });
      assert.equal(k8s.calls('GET', /\/replicasets$/)[0]!.query.get('labelSelector'), 'app=web');
    });

    test('rollTo the previous revision patches the template like kubectl rollout undo, streams rollout status, and the controller renumbers the ReplicaSet', async () => {
      const before = await client.releases.readRelease('stable');
      const lines: string[] = [];
      const after = await client.releases.rollTo('stable', before.previous!, { ...change('wf-5:roll'), onProgress: (line) => lines.push(line) });

      const [patch, ...more] = k8s.writes();
      assert.equal(more.length, 0);
      assert.equal(patch!.method, 'PATCH');
      assert.match(patch!.path, DEPLOYMENT_PATH);
      assert.equal(patch!.headers['content-type'], 'application/json-patch+json');
      const [template, annotations] = patch!.body as { op: string; path: string; value: any }[];
      assert.deepEqual([template!.op, template!.path], ['replace', '/spec/template']);
      assert.deepEqual(template!.value.metadata.labels, { app: 'web' }, 'the pod-template-hash label is not copied back');
      assert.equal(template!.value.spec.containers[0].image, WEB[0]);
      // kubectl keeps the Deployment's revision annotation and takes the ReplicaSet's others (its change-cause).
      assert.deepEqual(annotations, { op: 'add', path: '/metadata/annotations', value: { 'deployment.kubernetes.io/revision': '2', 'kubernetes.io/change-cause': 'deploy 1.0' } });

      assert.deepEqual(lines, [
        'rolling deployment "web" back to revision 1 (registry.example/web:1.0)',
        'Waiting for deployment spec update to be observed...',
        'Waiting for deployment "web" rollout to finish: 0 out of 4 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 2 out of 4 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 3 out of 4 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
        'Waiting for deployment "web" rollout to finish: 3 of 4 updated replicas are available...',
        'deployment "web" successfully rolled out',
      ]);
      // The old ReplicaSet was reused: revision 3 now, revision 1 kept in its history.
      assert.deepEqual({ ...after.current, createdAt: undefined }, { id: '3', label: WEB[0], image: WEB[0], aliases: ['revision 1'], createdAt: undefined });
      assert.deepEqual({ ...after.previous, createdAt: undefined }, { id: '2', label: WEB[1], image: WEB[1], createdAt: undefined });
      assert.equal(after.current!.createdAt, before.previous!.createdAt);
      const reused = k8s.replicaSetsOf('prod', 'web').find((rs) => rs.spec.template.spec.containers[0]!.image === WEB[0])!;
      assert.equal(reused.metadata.annotations!['deployment.kubernetes.io/revision-history'], '1');
      assert.equal(k8s.replicaSetsOf('prod', 'web').length, 2, 'no new ReplicaSet was made');
      assert.equal(k8s.get('prod', 'web').metadata.annotations!['kubernetes.io/change-cause'], 'deploy 1.0');
    });

    test('the same rollTo twice with the same key patches once: the retry finds the revision in revision-history and the template already there', async () => {
      const before = await client.releases.readRelease('stable');
      const first = await client.releases.rollTo('stable', before.previous!, change('wf-6:roll'));
      const lines: string[] = [];
      const second = await client.releases.rollTo('stable', before.previous!, { ...change('wf-6:roll'), onProgress: (line) => lines.push(line) });
      assert.equal(k8s.writes().length, 1);
      assert.deepEqual(second, first);
      assert.deepEqual(lines, ['deployment "web" already runs the template of revision 1 (registry.example/web:1.0); nothing to patch', 'deployment "web" successfully rolled out']);
    });

    test('undo: rolling to the release the snapshot read as current puts it back', async () => {
      const snapshot = await client.releases.readRelease('stable');
      await client.releases.rollTo('stable', snapshot.previous!, change('wf-7:roll'));
      const undone = await client.releases.rollTo('stable', snapshot.current!, change('wf-7:roll:undo'));
      assert.equal(undone.current!.label, snapshot.current!.label);
      assert.equal(undone.current!.id, '4');
      assert.equal(undone.previous!.label, snapshot.previous!.label);
      assert.equal(k8s.get('prod', 'web').spec.template.spec.containers[0]!.image, WEB[1]);
      assert.equal(k8s.writes().length, 2);
    });

    test('a paused Deployment is blocked in readRelease and refused by rollTo, with kubectl\'s reason and how to resume', async () => {
      k8s.pause('prod', 'web');
      const reason =
        "deployment/web in namespace prod is paused (spec.paused): kubectl refuses to roll back or restart a paused deployment (\"you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again\"). Resume it with `kubectl rollout resume deployment/web -n prod`, then run this step again.";
      const state = await client.releases.readRelease('stable');
      assert.equal(state.blocked, reason);
      assert.equal(state.previous!.id, '1');
      await assert.rejects(client.releases.rollTo('stable', state.previous!, change('wf-8')), { message: reason });
      assert.equal(k8s.writes().length, 0);
    });

    test('a Deployment with one revision has no previous release, and says so', async () => {
      const state = await client.releases.readRelease('canary');
      assert.equal(state.current!.id, '1');
      assert.equal(state.previous, null);
      assert.equal(state.blocked, 'deployment/web-canary in namespace prod has no earlier revision to roll back to (kubectl: no rollout history found); `kubectl rollout history deployment/web-canary -n prod` lists what is kept.');
    });

    test('a revision the Deployment no longer keeps is refused, naming it', async () => {
      await assert.rejects(client.releases.rollTo('stable', { id: '9', label: 'registry.example/web:0.9' }, change('wf-9')), {
        message: 'deployment/web in namespace prod has no ReplicaSet for revision 9 (registry.example/web:0.9): `kubectl rollout history deployment/web -n prod` lists the revisions kept (revisionHistoryLimit may have pruned it).',
      });
    });

    test('a rollout that exceeds its progress deadline fails the wait, as kubectl rollout status does', async () => {
      k8s.stallRollouts('prod', 'web', 4);
      const state = await client.releases.readRelease('stable');
      await assert.rejects(client.releases.rollTo('stable', state.previous!, change('wf-10')), (err: Error) => {
        assert.match(err.message, /^deployment "web" exceeded its progress deadline \(namespace prod\): ReplicaSet "web-[a-z0-9]+" has timed out progressing\. See `kubectl describe deployment\/web -n prod` and its pods' events\.$/);
        return true;
      });
    });

    test('a rollout still going after rolloutTimeoutSeconds fails with the last status', async () => {
      k8s.stallRollouts('prod', 'web', 1_000_000);
      const slow = clientWith({ rolloutTimeoutSeconds: 1, pollIntervalMs: 20 });
      const state = await slow.releases.readRelease('stable');
      await assert.rejects(slow.releases.rollTo('stable', state.previous!, change('wf-11')), {
        message: 'deployment/web in namespace prod did not finish within 1 s (rolloutTimeoutSeconds, like kubectl rollout status --timeout); last status: Waiting for deployment "web" rollout to finish: 2 out of 4 new replicas have been updated...',
      });
    });

    test('a 409 on the rollback patch reads again and patches again', async () => {
      k8s.failNext({ status: 409, body: k8sStatus(409, 'Conflict', 'the object has been modified') }, { method: 'PATCH', path: DEPLOYMENT_PATH });
      const state = await client.releases.readRelease('stable');
      const after = await client.releases.rollTo('stable', state.previous!, change('wf-12'));
      assert.equal(after.current!.label, WEB[0]);
      assert.equal(k8s.calls('PATCH').length, 2);
    });

    test('listReleases: the revisions kept, newest first, each labelled with its image', async () => {
      k8s.setImage('prod', 'web', 'registry.example/web:1.2');
      const listed = await client.releases.listReleases('stable', 10);
      assert.deepEqual(listed.map((r) => [r.id, r.label]), [['3', 'registry.example/web:1.2'], ['2', WEB[1]], ['1', WEB[0]]]);
      assert.deepEqual((await client.releases.listReleases('stable', 2)).map((r) => r.id), ['3', '2']);
      assert.equal(k8s.writes().length, 0);
    });

    test('findRelease by revision, as --to-revision names it: "1", "revision 1", "revision-1"; after a rollback the renumbered ReplicaSet still answers to its earlier number', async () => {
      for (const name of ['1', 'revision 1', 'Revision-1']) assert.equal((await client.releases.findRelease('stable', name))?.label, WEB[0], name);
      assert.equal((await client.releases.findRelease('stable', '2'))?.label, WEB[1]);
      const first = await client.releases.findRelease('stable', '1');
      await client.releases.rollTo('stable', first!, change('wf-13:release'));
      const renumbered = await client.releases.findRelease('stable', 'revision 1');
      assert.deepEqual({ ...renumbered, createdAt: undefined }, { id: '3', label: WEB[0], image: WEB[0], aliases: ['revision 1'], createdAt: undefined });
      assert.equal(await client.releases.findRelease('stable', '1').then((r) => r?.id), '3');
    });

    test('findRelease by the image a ReplicaSet runs; rolling to it is kubectl rollout undo to that revision', async () => {
      const found = await client.releases.findRelease('stable', WEB[0]!);
      assert.deepEqual({ ...found, createdAt: undefined }, { id: '1', label: WEB[0], image: WEB[0], createdAt: undefined });
      const after = await client.releases.rollTo('stable', found!, change('wf-14:release'));
      assert.equal(after.current!.label, WEB[0]);
      assert.equal(k8s.writes()[0]!.headers['content-type'], 'application/json-patch+json');
      assert.equal(k8s.replicaSetsOf('prod', 'web').length, 2, 'the ReplicaSet of revision 1 was reused');
    });

    test('findRelease: an image no ReplicaSet runs is fresh; rolling to it sets the container image as kubectl set image does, and again patches nothing', async () => {
      const image = 'registry.example/web:2.0';
      const fresh = await client.releases.findRelease('stable', image);
      assert.deepEqual(fresh, { id: image, label: image, image, fresh: true });
      const lines: string[] = [];
      const after = await client.releases.rollTo('stable', fresh!, { ...change('wf-15:release'), onProgress: (line) => lines.push(line) });

      const [patch, ...more] = k8s.writes();
      assert.equal(more.length, 0);
      assert.match(patch!.path, DEPLOYMENT_PATH);
      assert.equal(patch!.headers['content-type'], 'application/strategic-merge-patch+json');
      assert.deepEqual(patch!.body, {
        metadata: { annotations: { 'kubernetes.io/change-cause': `rollback-runbooks: set image web=${image} (test)` } },
        spec: { template: { spec: { containers: [{ name: 'web', image }] } } },
      });
      assert.equal(lines[0], `deployment "web": container web ${WEB[1]} -> ${image}`);
      assert.equal(lines.at(-1), 'deployment "web" successfully rolled out');
      assert.deepEqual([after.current!.id, after.current!.image, after.previous!.image], ['3', image, WEB[1]]);
      const d = k8s.get('prod', 'web');
      assert.equal(d.spec.template.spec.containers[0]!.image, image);
      assert.deepEqual(d.spec.template.spec.containers[0]!.env?.map((e) => e.name), ['LOG_LEVEL', 'DATABASE_URL'], 'the rest of the container is kept');

      const again = await client.releases.rollTo('stable', fresh!, change('wf-15:release'));
      assert.equal(k8s.writes().length, 1, 'a retry finds the image set');
      assert.deepEqual(again, after);
      assert.equal((await client.releases.findRelease('stable', image))!.id, '3', 'now a revision');
    });

    test('findRelease: an unknown revision, a bare word or an image without tag is no release; a fresh image for one of several containers must be clear', async () => {
      for (const name of ['9', 'revision 9', 'latest', 'web', 'registry.example/web']) assert.equal(await client.releases.findRelease('stable', name), null, name);
      // A sidecar: the fresh image goes to the container running the same repository, else it is refused.
      k8s.get('prod', 'web').spec.template.spec.containers.push({ name: 'proxy', image: 'registry.example/envoy:1.30' });
      assert.equal((await client.releases.findRelease('stable', 'registry.example/envoy:1.31'))?.fresh, true);
      await assert.rejects(client.releases.findRelease('stable', 'registry.example/worker:1.0'), {
        message:
          'deployment/web in namespace prod runs 2 containers (web=registry.example/web:1.1, proxy=registry.example/envoy:1.30) and none runs repository registry.example/worker, so which one registry.example/worker:1.0 is for is not clear; name a revision instead, or set it with `kubectl set image deployment/web <container>=registry.example/worker:1.0 -n prod`',
      });
    });
  });

  describe('restarts', () => {
    test('targets are the versions; readReplicas lists the pods of the current ReplicaSet with their literal env, credentials masked', async () => {
      assert.deepEqual(await client.restarts.targets(), ['stable', 'canary']);
      const replicas = await client.restarts.readReplicas('stable');
      assert.equal(replicas.length, 4);
      for (const r of replicas) {
        assert.equal(r.version, 'stable');
        assert.match(String(r.replica), /^web-[a-z0-9]+-[a-z0-9]{5}$/);
        assert.deepEqual(r.config, { LOG_LEVEL: 'info', DATABASE_URL: 'postgres://app:***@db.internal/app' });
        assert.deepEqual(r.secretVersions, {});
        assert.ok(r.startedAt);
      }
      const hash = k8s.replicaSetsOf('prod', 'web').at(-1)!.metadata.labels!['pod-template-hash'];
      assert.equal(k8s.calls('GET', /\/pods$/)[0]!.query.get('labelSelector'), `app=web,pod-template-hash=${hash}`);
    });

    test('restart sets restartedAt and the idempotency key on the template with a strategic merge patch, waits, and returns the new pods; the same key again restarts nothing', async () => {
      const before = await client.restarts.readReplicas('stable');
      const after = await client.restarts.restart('stable', change('wf-13:restart'));
      const [patch] = k8s.writes();
      assert.equal(patch!.headers['content-type'], 'application/strategic-merge-patch+json');
      const annotations = (patch!.body as any).spec.template.metadata.annotations;
      assert.match(annotations['kubectl.kubernetes.io/restartedAt'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(annotations[RESTART_KEY], 'wf-13:restart');
      assert.equal(after.length, 4);
      assert.equal(after.filter((r) => before.some((b) => b.replica === r.replica)).length, 0, 'every pod was replaced');
      assert.equal(k8s.get('prod', 'web').spec.template.spec.containers[0]!.image, WEB[1], 'the strategic merge kept the containers');

      const again = await client.restarts.restart('stable', change('wf-13:restart'));
      assert.equal(k8s.writes().length, 1);
      assert.deepEqual(again.map((r) => r.replica).sort(), after.map((r) => r.replica).sort());

      await client.restarts.restart('stable', change('wf-14:restart'));
      assert.equal(k8s.writes().length, 2, 'another key is another restart');
    });

    test('a paused Deployment is not restarted', async () => {
      k8s.pause('prod', 'web');
      await assert.rejects(client.restarts.restart('stable', change('wf-15')), {
        message: 'deployment/web in namespace prod is paused (spec.paused): kubectl refuses too ("can\'t restart paused deployment (run rollout resume first)"). Resume it with `kubectl rollout resume deployment/web -n prod`, then run this step again.',
      });
      assert.equal(k8s.writes().length, 0);
    });
  });

  describe('API failures', () => {
    test('401: the token was refused; the error names the variable, never the value', async () => {
      const wrong = clientWith({}, { K8S_TOKEN: 'expired-token-value' });
      await assert.rejects(wrong.scaling.readState(), (err: Error) => {
        assert.match(err.message, /^Kubernetes GET \/apis\/apps\/v1\/namespaces\/prod\/deployments\/web(-canary)?\/scale answered 401: Unauthorized\. The API server did not accept the token in K8S_TOKEN: renew it\.$/);
        assert.ok(!err.message.includes('expired-token-value'));
        return true;
      });
    });

    test('404: an unknown Deployment', async () => {
      const typo = clientWith({ deployments: { stable: 'wbe' } });
      await assert.rejects(typo.releases.readRelease('stable'), {
        message: 'Kubernetes GET /apis/apps/v1/namespaces/prod/deployments/wbe answered 404: deployments.apps "wbe" not found. Check the runbook\'s settings: namespace \'prod\' and the Deployment name.',
      });
    });

    test('429 with Retry-After: waited out, then asked again', async () => {
      k8s.failNext({ status: 429, headers: { 'retry-after': '1' }, body: k8sStatus(429, 'TooManyRequests', 'Too many requests, please try again later.') }, { method: 'GET', path: /\/web\/scale$/ });
      const state = await client.scaling.readState();
      assert.equal(state.instances.stable, 4);
      const [refused, retried] = k8s.calls('GET', /\/web\/scale$/);
      assert.ok(retried!.at - refused!.at >= 1000, `asked again after ${retried!.at - refused!.at} ms`);
    });

    test('429 asking for a longer wait than this waits is an error at once', async () => {
      k8s.failNext({ status: 429, headers: { 'retry-after': '120' }, body: k8sStatus(429, 'TooManyRequests', 'Too many requests, please try again later.') }, { method: 'GET' });
      const typo = clientWith({ deployments: { stable: 'web' } });
      await assert.rejects(typo.scaling.readState(), {
        message: 'Kubernetes GET /apis/apps/v1/namespaces/prod/deployments/web/scale answered 429 (Retry-After 120000 ms is longer than the 30000 ms this waits): Too many requests, please try again later. The API server kept rate limiting past the retries: wait a minute and run the step again.',
      });
    });

    test('500: asked again; five in a row is an error saying so', async () => {
      const only = clientWith({ deployments: { stable: 'web' } });
      const etcd = { status: 500, headers: { 'retry-after': '0' }, body: k8sStatus(500, 'InternalError', 'etcdserver: request timed out') };
      k8s.failNext(etcd, { method: 'GET' });
      assert.deepEqual((await only.scaling.readState()).instances, { stable: 4 });
      assert.equal(k8s.calls('GET').length, 2);

      k8s.failNext(etcd, { method: 'GET', times: 5 });
      await assert.rejects(only.scaling.readState(), {
        message: 'Kubernetes GET /apis/apps/v1/namespaces/prod/deployments/web/scale answered 500 (after 5 attempts): etcdserver: request timed out. The API server failed: run the step again (it reads first, so a change already made is not made twice).',
      });
    });

    test('create does no I/O; a missing token is named when a call is made, before any request', async () => {
      const unset = clientWith({}, {});
      assert.equal(k8s.requests.length, 0);
      await assert.rejects(unset.scaling.readState(), { message: 'environment variable K8S_TOKEN is not set (the runbook references it)' });
      const noCa = clientWith({ caDataEnv: 'K8S_CA' });
      await assert.rejects(noCa.scaling.readState(), { message: 'environment variable K8S_CA is not set (the runbook references it)' });
      assert.equal(k8s.requests.length, 0);
    });
  });

  describe('kubeconfig', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
      writeFileSync(
        join(dir, 'config'),
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'emulator', cluster: { server: k8s.url } }],
          users: [
            { name: 'deployer', user: { token: TOKEN } },
            { name: 'stranger', user: { token: 'not-the-token' } },
          ],
          contexts: [
            { name: 'prod', context: { cluster: 'emulator', user: 'deployer', namespace: 'prod' } },
            { name: 'other', context: { cluster: 'emulator', user: 'stranger' } },
          ],
          'current-context': 'other',
        }),
      );
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const base = () => ({ server: undefined, tokenEnv: undefined, kubeconfigEnv: 'KUBECONFIG_PATH' });

    test('the context named in settings is used (a plain http:// server works without TLS settings)', async () => {
      const kc = clientWith({ ...base(), context: 'prod' }, { KUBECONFIG_PATH: join(dir, 'config') });
      assert.deepEqual(await kc.scaling.readState(), { weights: {}, instances: { stable: 4, canary: 1 } });
    });

    test("without a context the kubeconfig's current-context is used (here a user the server refuses)", async () => {
      const kc = clientWith({ ...base(), deployments: { stable: 'web' } }, { KUBECONFIG_PATH: join(dir, 'config') });
      await assert.rejects(kc.scaling.readState(), {
        message: 'Kubernetes GET /apis/apps/v1/namespaces/prod/deployments/web/scale answered 401: Unauthorized. The API server did not accept the user of the kubeconfig named by KUBECONFIG_PATH: renew it.',
      });
    });

    test('an unknown context or a missing file is named', async () => {
      const path = join(dir, 'config');
      await assert.rejects(clientWith({ ...base(), context: 'staging' }, { KUBECONFIG_PATH: path }).scaling.readState(), {
        message: `the kubeconfig ${path} has no context 'staging' (it has: prod, other)`,
      });
      await assert.rejects(clientWith({ ...base() }, { KUBECONFIG_PATH: join(dir, 'missing') }).scaling.readState(), (err: Error) => {
        assert.match(err.message, /^cannot load the kubeconfig .*missing named by KUBECONFIG_PATH: ENOENT: no such file or directory/);
        return true;
      });
      assert.equal(k8s.requests.length, 0);
    });
  });

  describe('settings', () => {
    const issuesOf = (settings: Record<string, unknown>) => {
      const parsed = kubernetes.settingsSchema.safeParse(settings);
      assert.equal(parsed.success, false);
      return parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    const deployments = { stable: 'web' };

    test('the example loads, with kubectl-like defaults', () => {
      const settings = kubernetes.settingsSchema.parse(kubernetes.example);
      assert.equal(settings.rolloutTimeoutSeconds, 600);
      assert.equal(settings.insecureSkipTlsVerify, false);
    });

    test('bad settings are refused naming the field', () => {
      assert.deepEqual(issuesOf({ namespace: 'prod', deployments }), ['server: required (with tokenEnv) unless kubeconfigEnv is given', 'tokenEnv: required (with server) unless kubeconfigEnv is given']);
      assert.deepEqual(issuesOf({ kubeconfigEnv: 'KUBECONFIG', server: 'https://k8s:6443', namespace: 'prod', deployments }), ['server: give either kubeconfigEnv, or server with tokenEnv, not both']);
      assert.deepEqual(issuesOf({ server: 'https://k8s:6443', tokenEnv: 'K8S_TOKEN', context: 'prod', namespace: 'prod', deployments }), ['context: names a kubeconfig context: give kubeconfigEnv too']);
      assert.match(issuesOf({ server: 'https://k8s:6443', tokenEnv: 'eyJhbGciOiJSUzI1NiJ9', namespace: 'prod', deployments })[0]!, /^tokenEnv: must name an environment variable/);
      assert.match(issuesOf({ server: 'https://k8s:6443', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments: { stable: 'Web_App' } })[0]!, /^deployments\.stable: must be a Deployment name/);
      assert.match(issuesOf({ server: 'https://k8s:6443', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments: {} })[0]!, /^deployments: must name at least one Deployment/);
      assert.match(issuesOf({ server: 'https://k8s:6443', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments, replicas: 3 })[0]!, /^: Unrecognized key: "replicas"/);
      assert.match(issuesOf({ server: 'ftp://k8s', tokenEnv: 'K8S_TOKEN', namespace: 'prod', deployments })[0]!, /^server: /);
    });
  });

  test('label selectors: written as metav1.LabelSelectorAsSelector writes them, read back by the emulator', () => {
    const text = selectorString({ matchLabels: { app: 'web', tier: 'api' }, matchExpressions: [{ key: 'track', operator: 'In', values: ['stable', 'canary'] }, { key: 'legacy', operator: 'DoesNotExist' }] });
    assert.equal(text, 'app=web,!legacy,tier=api,track in (canary,stable)');
    const matches = parseSelector(text);
    assert.equal(matches({ app: 'web', tier: 'api', track: 'canary' }), true);
    assert.equal(matches({ app: 'web', tier: 'api', track: 'canary', legacy: 'yes' }), false);
    assert.equal(matches({ app: 'web', tier: 'api', track: 'edge' }), false);
  });
});
