/**
 * Approvals bound to a verified identity (issue 24): SSH signatures (PROTOCOL.sshsig) made and
 * checked here against `ssh-keygen -Y sign` and `ssh-keygen -Y verify`, both ways; then the gate of a
 * fullRollback as PURE WORKFLOW LOGIC with STUBBED ACTIVITIES (the real verifySignedRequest local
 * activity) on a real dev server: a signed approval counts and its key's fingerprint is in status and
 * report; every refusal names its reason and leaves the gate waiting.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { parseDocument, stringify } from 'yaml';
import { gateSubject, SIGNING_NAMESPACE, signedStatement, TASK_QUEUE, type HealthVerdict, type RollbackStatus, type SignedClaims } from '../src/contract/index.ts';
import { abortUpdate, approveUpdate, rejectUpdate, statusQuery } from '../src/contract/messages.ts';
import { createSignatureActivities } from '../src/activities/signatures.ts';
import { parsePrivateKey, planHash, signSshsig, verifySshsig } from '../src/providers/ssh-signatures.ts';
import { readKey, signRequest } from '../src/cli/sign.ts';
import { renderIncidentReport } from '../src/plan/report.ts';
import { parseRunbook } from '../src/runbook/load.ts';
import type { Runbook } from '../src/runbook/schema.ts';
import { workerWorkflowBundle } from '../src/build/workflow-bundle.ts';
import { quietLogger, startTemporal } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'signed-approvals-'));
const sshKeygen = (...args: string[]) => execFileSync('ssh-keygen', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A fresh ed25519 key pair made by ssh-keygen: its files, public key line and fingerprint as ssh-keygen -lf prints it. */
function keyPair(name: string, passphrase = '') {
  const file = join(dir, name);
  sshKeygen('-q', '-t', 'ed25519', '-N', passphrase, '-C', `${name}@laptop`, '-f', file);
  const fingerprint = sshKeygen('-lf', `${file}.pub`).split(' ')[1]!;
  return { file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint };
}

/** Signs `message` with ssh-keygen alone, as a person without this CLI would. */
function sshKeygenSign(keyFile: string, message: string): string {
  const file = join(dir, `msg-${Math.random().toString(16).slice(2)}.txt`);
  writeFileSync(file, message);
  sshKeygen('-Y', 'sign', '-f', keyFile, '-n', SIGNING_NAMESPACE, file);
  return readFileSync(`${file}.sig`, 'utf8');
}

const alice = keyPair('alice');
const bob = keyPair('bob');
const carol = keyPair('carol');
const dana = keyPair('dana');

after(() => rmSync(dir, { recursive: true, force: true }));

describe('SSH signatures (PROTOCOL.sshsig) against ssh-keygen', () => {
  test('a signature made by ssh-keygen -Y sign verifies here, naming the key ssh-keygen -lf fingerprints', () => {
    const verdict = verifySshsig(sshKeygenSign(bob.file, 'approve before-cleanup\n'), SIGNING_NAMESPACE, 'approve before-cleanup\n');
    assert.deepEqual(verdict, { ok: true, key: bob.publicKey.split(' ').slice(0, 2).join(' '), fingerprint: bob.fingerprint });
  });

  test('a signature made here from an ssh-keygen private key verifies with ssh-keygen -Y verify', () => {
    const signature = signSshsig(parsePrivateKey(readFileSync(carol.file, 'utf8')), SIGNING_NAMESPACE, 'abort rollback\n');
    writeFileSync(join(dir, 'allowed'), `carol ${carol.publicKey}\n`);
    writeFileSync(join(dir, 'ours.sig'), signature);
    const out = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', 'allowed', '-I', 'carol', '-n', SIGNING_NAMESPACE, '-s', 'ours.sig'], { cwd: dir, input: 'abort rollback\n', encoding: 'utf8' });
    assert.match(out, new RegExp(`^Good "${SIGNING_NAMESPACE}" signature for carol with ED25519 key ${carol.fingerprint.replaceAll('+', '\\+')}`));
  });

  test('another message, another namespace or a broken blob is refused, saying why', () => {
    const signature = sshKeygenSign(bob.file, 'approve\n');
    assert.deepEqual(verifySshsig(signature, SIGNING_NAMESPACE, 'approve!\n'), { ok: false, why: 'the signature does not match the request: a field was changed after signing' });
    assert.deepEqual(verifySshsig(signature, 'file', 'approve\n'), { ok: false, why: `signed in namespace '${SIGNING_NAMESPACE}', not 'file'` });
    assert.deepEqual(verifySshsig('hello', SIGNING_NAMESPACE, 'approve\n'), { ok: false, why: 'not an SSH signature (expected -----BEGIN SSH SIGNATURE----- ... -----END SSH SIGNATURE-----)' });
    const broken = signature.replace(/\n(.{10})/, '\nAAAAAAAAAA');
    assert.equal(verifySshsig(broken, SIGNING_NAMESPACE, 'approve\n').ok, false);
  });

  test("--key with a public key file signs through ssh-agent (the private key file gone), and says why when it cannot", async () => {
    const erin = keyPair('erin');
    const agent = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
    const env = { PATH: process.env.PATH, SSH_AUTH_SOCK: /SSH_AUTH_SOCK=([^;]+);/.exec(agent)![1], SSH_AGENT_PID: /SSH_AGENT_PID=(\d+);/.exec(agent)![1] };
    try {
      execFileSync('ssh-add', ['-q', erin.file], { env, stdio: 'ignore' });
      rmSync(erin.file); // only the agent holds the private half now
      const statement = 'approve before-cleanup\n';
      const verdict = verifySshsig(await readKey(`${erin.file}.pub`, env).sign(statement), SIGNING_NAMESPACE, statement);
      assert.deepEqual(verdict, { ok: true, key: erin.publicKey.split(' ').slice(0, 2).join(' '), fingerprint: erin.fingerprint });
      const frank = keyPair('frank');
      rmSync(frank.file); // neither on disk nor in the agent
      await assert.rejects(readKey(`${frank.file}.pub`, env).sign(statement), { message: new RegExp(`^--key ${frank.file}\\.pub: ssh-agent did not sign: .*\\(is the key added\\? ssh-add -l lists what the agent holds\\)$`, 's') });
      assert.throws(
        () => readKey(`${erin.file}.pub`, { PATH: process.env.PATH }),
        { message: `--key ${erin.file}.pub is a public key, whose private half ssh-agent must hold, but SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the key, or give the private key file` },
      );
    } finally {
      process.kill(Number(env.SSH_AGENT_PID));
    }
  });

  test('a passphrase-protected key is refused with the way to sign it instead', () => {
    const locked = keyPair('locked', 'secret words');
    assert.throws(() => parsePrivateKey(readFileSync(locked.file, 'utf8')), /protected by a passphrase; sign with `ssh-keygen -Y sign`/);
  });
});

// ---- the gate, as pure workflow logic with stubbed activities ----

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let counter = 0;

function runbookWith(edit: (doc: Record<string, any>) => void): Runbook {
  const doc = parseDocument(readFileSync(new URL('../runbooks/sandbox.yaml', import.meta.url), 'utf8')).toJS() as Record<string, any>;
  doc.system = 'stubbed';
  doc.gates['before-cleanup'] = { role: 'oncall', required: 2, forbidRequester: true, timeoutSeconds: 60, signed: 'required' };
  doc.approvals = { keys: { alice: [alice.publicKey], bob: [bob.publicKey], carol: [carol.publicKey], dana: [dana.publicKey] } };
  edit(doc);
  return parseRunbook(stringify(doc), 'runbooks/stubbed.yaml');
}

let runbook: Runbook = runbookWith(() => undefined);
const passed: HealthVerdict = { passed: true, reasons: [], window: null, checks: [] };
const stubs = {
  preflight: async () => runbook,
  captureSnapshot: async () => ({ takenAt: new Date().toISOString(), traffic: { weights: { stable: 75, canary: 25 }, instances: { stable: 2, canary: 1 } }, baseline: null }),
  notify: async () => undefined,
  publishReport: async () => '/dev/null',
  setWeights: async (input: Record<string, unknown>) => ({ weights: input.weights, instances: {} }),
  scaleVersion: async () => ({ weights: {}, instances: {} }),
  verifyHealth: async (): Promise<HealthVerdict> => passed,
  ...createSignatureActivities(),
};

async function until(handle: WorkflowHandle, predicate: (s: RollbackStatus) => boolean): Promise<RollbackStatus> {
  for (let deadline = Date.now() + 20_000; ; ) {
    const status = await handle.query(statusQuery);
    if (predicate(status)) return status;
    if (Date.now() > deadline) throw new Error(`status never matched: ${status.state} ${status.details}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('signed approvals at a gate (pure workflow logic, stubbed activities)', { timeout: 120_000 }, () => {
  before(async () => {
    env = await startTemporal();
    worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowBundle: await workerWorkflowBundle(quietLogger), activities: stubs });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  test('a gate requiring signatures refuses each bad signature by name, stays waiting, and counts approvals signed by listed keys with their fingerprints', async () => {
    runbook = runbookWith(() => undefined);
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `signed-${++counter}`,
      args: [{ system: 'stubbed', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
    });
    const waiting = await until(handle, (s) => s.state === 'awaiting_approval');
    assert.equal(waiting.pendingGate?.signed, true, 'the status says the gate wants signatures');
    const runId = handle.firstExecutionRunId;
    const claims = (overrides: Partial<SignedClaims> = {}): Omit<SignedClaims, 'sshsig'> => ({ workflowId: handle.workflowId, runId, subject: gateSubject('before-cleanup'), plan: planHash(waiting.plan), at: new Date().toISOString(), ...overrides });
    /** An approval by `by` signed with `key` (by ssh-keygen) over `signedClaims` and `signedComment`, sent with `sentComment`. */
    const approval = (key: string, signedClaims: Omit<SignedClaims, 'sshsig'>, signedComment = 'metrics back to normal', sentComment = signedComment, by = 'bob') => ({
      by,
      comment: sentComment,
      signature: { ...signedClaims, sshsig: sshKeygenSign(key, signedStatement({ request: 'approve', by, comment: signedComment }, signedClaims)) },
    });
    const refusals: [string, unknown, string][] = [
      ['carol\'s key for bob', approval(carol.file, claims()), `refused: signature refused: key ${carol.fingerprint} is not listed for bob`],
      ['another workflow', approval(bob.file, claims({ workflowId: 'signed-elsewhere' })), `refused: signature refused: it was made for workflow signed-elsewhere, not ${handle.workflowId} (a replayed signature)`],
      ['another run', approval(bob.file, claims({ runId: 'an-earlier-run' })), `refused: signature refused: it was made for run an-earlier-run, not this run ${runId} (a replayed signature)`],
      ['another gate', approval(bob.file, claims({ subject: 'gate before-traffic' })), 'refused: signature refused: it was made for gate before-traffic, not gate before-cleanup (a replayed signature)'],
      ['another plan', approval(bob.file, claims({ plan: planHash({ steps: [] }) })), `refused: signature refused: it was made for plan ${planHash({ steps: [] })}, not this rollback's plan ${planHash(waiting.plan)} (a replayed signature)`],
      ['before the gate opened', approval(bob.file, claims({ at: '2026-01-01T00:00:00.000Z' })), /^refused: signature refused: it was made at 2026-01-01T00:00:00.000Z, before gate before-cleanup opened at \S+Z \(a replayed signature\)$/.source],
      ['a tampered comment', approval(bob.file, claims(), 'metrics back to normal', 'ship it'), 'refused: signature refused: the signature does not match the request: a field was changed after signing'],
    ];
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError);
      assert.equal(err.cause?.message, 'refused: a signed request is required at gate before-cleanup; sign it with --key <private key file> (or paste the payload of `rollback sign`)');
      return true;
    });
    for (const [what, payload, answer] of refusals) {
      const got = await handle.executeUpdate(approveUpdate, { args: [payload as { by: string }] });
      if (answer.startsWith('^')) assert.match(got, new RegExp(answer), what);
      else assert.equal(got, answer, what);
    }
    const still = await handle.query(statusQuery);
    assert.equal(still.state, 'awaiting_approval');
    assert.deepEqual(still.pendingGate?.approvedBy, [], 'no refused signature counted');

    // carol signs with ssh-keygen alone; bob through the CLI's --key path (signRequest).
    const byCarol = approval(carol.file, claims(), 'metrics back to normal', 'metrics back to normal', 'carol');
    assert.equal(await handle.executeUpdate(approveUpdate, { args: [byCarol as { by: string }] }), 'approved by carol at gate before-cleanup (1 of 2)');
    const temporal = { client: env.client, connection: env.connection, namespace: env.namespace ?? 'default', address: 'test' };
    const fromCli = await signRequest(temporal, handle, 'approve', { by: 'bob', comment: 'error rate under 1%' }, bob.file);
    assert.equal(await handle.executeUpdate(approveUpdate, { args: [fromCli as { by: string }] }), 'approved by bob at gate before-cleanup (2 of 2)');
    await handle.result();

    const status = await handle.query(statusQuery);
    const approved = status.events.filter((e) => e.kind === 'approved').map((e) => [e.by, e.key]);
    assert.deepEqual(approved, [['carol', carol.fingerprint], ['bob', bob.fingerprint]]);
    assert.equal(status.events.filter((e) => e.kind === 'refused').length, refusals.length, 'each refused signature is recorded (the validator let them in)');
    assert.match(status.report!, new RegExp(`\\*\\*approved\\*\\* by carol at gate before-cleanup: metrics back to normal \\(signed, key ${carol.fingerprint.replaceAll('+', '\\+')}\\)`));
    assert.match(status.report!, /Signatures: required by the runbook \(at its signed gates\); 2 signed request\(s\) counted/);

    // A runbook that asks for no signatures: its report says the approvals were unsigned.
    const unsignedRunbook = runbookWith((doc) => {
      doc.gates['before-cleanup'] = { role: 'oncall', required: 1 };
      delete doc.approvals;
    });
    const unsigned = renderIncidentReport({ ...status, events: status.events.map(({ key: _key, ...e }) => e) }, unsignedRunbook);
    assert.match(unsigned, /Signatures: approvals were unsigned \(the runbook does not require signatures\): each name is as its sender typed it\./);
  });

  test('a runbook requiring signatures refuses an unsigned rejection, and takes a signed one', async () => {
    runbook = runbookWith((doc) => {
      doc.approvals.signed = 'required';
    });
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `signed-${++counter}`,
      args: [{ system: 'stubbed', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
    });
    await until(handle, (s) => s.state === 'awaiting_approval');
    await assert.rejects(handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'false alarm' }] }), WorkflowUpdateFailedError);
    const temporal = { client: env.client, connection: env.connection, namespace: env.namespace ?? 'default', address: 'test' };
    const signed = await signRequest(temporal, handle, 'reject', { by: 'carol', reason: 'false alarm' }, carol.file);
    assert.equal(await handle.executeUpdate(rejectUpdate, { args: [signed as { by: string; reason: string }] }), 'rejected by carol at gate before-cleanup: the rollback stops here');
    await assert.rejects(handle.result());
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.key]), [['rejected', 'carol', carol.fingerprint]]);
  });

  test('under approvals.signed: required an unsigned abort is refused at once, and one signed by a listed key stops the rollback with its fingerprint recorded', async () => {
    runbook = runbookWith((doc) => {
      doc.approvals.signed = 'required';
    });
    const handle = await env.client.workflow.start('fullRollback', {
      taskQueue: TASK_QUEUE,
      workflowId: `signed-${++counter}`,
      args: [{ system: 'stubbed', reason: 'canary error rate 14%', requestedBy: 'alice', mode: 'immediate', baselineSeconds: 0 }],
    });
    await until(handle, (s) => s.state === 'awaiting_approval');
    await assert.rejects(handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'wrong system' }] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError);
      assert.equal(err.cause?.message, 'refused: a signed request is required at rollback; sign it with --key <private key file> (or paste the payload of `rollback sign`)');
      return true;
    });
    const temporal = { client: env.client, connection: env.connection, namespace: env.namespace ?? 'default', address: 'test' };
    const signed = await signRequest(temporal, handle, 'abort', { by: 'bob', reason: 'wrong system' }, bob.file);
    assert.equal(await handle.executeUpdate(abortUpdate, { args: [signed as { by: string; reason: string }] }), 'abort requested by bob: the running step is cancelled and the rollback stops where it stands');
    await assert.rejects(handle.result());
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.events.map((e) => [e.kind, e.by, e.key]), [['abort_requested', 'bob', bob.fingerprint]]);
    assert.equal(status.state, 'aborted');
  });
});
