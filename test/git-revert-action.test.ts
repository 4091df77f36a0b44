/**
 * The runbook's `git-revert` action (seeds 001 and 004: code rolled back with git) in a phaseRollback on
 * the sandbox, through the real worker on a Temporal dev server and real git: a bare remote and the
 * worker's clone. The commits of the range are reverted as new commits and pushed; compensation reverts
 * those, again as new commits; the remote's history only grows.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseRunbook } from '../src/runbook/load.ts';
import { failureOf, startRollback, startRollbackTestEnv, waitForStatus, type RollbackTestEnv } from './rollback-harness.ts';
import { decideSignal, statusQuery } from '../src/contract/messages.ts';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=dev', '-c', 'user.email=dev@example.invalid', ...args], { cwd, encoding: 'utf8' }).trim();

describe('git-revert action in a phaseRollback, on real git repositories', () => {
  let t: RollbackTestEnv;
  let dir: string;
  let remote: string;
  let clone: string;
  /** The commits of the bad release, oldest first, and the commit before them. */
  let base: string;
  let bad: string[];

  before(async () => {
    t = await startRollbackTestEnv();
    dir = mkdtempSync(join(tmpdir(), 'rr-git-action-'));
    remote = join(dir, 'remote.git');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
    const work = join(dir, 'work');
    execFileSync('git', ['clone', '-q', remote, work]);
    writeFileSync(join(work, 'entities.py'), 'ENTITY_MODEL = "v1"\n');
    git(work, 'add', '.');
    git(work, 'commit', '-q', '-m', 'entity model v1');
    base = git(work, 'rev-parse', 'HEAD');
    bad = [];
    for (const [file, text] of [['entities.py', 'ENTITY_MODEL = "v2"\n'], ['cutover.py', 'CUTOVER = True\n']]) {
      writeFileSync(join(work, file!), text!);
      git(work, 'add', '.');
      git(work, 'commit', '-q', '-m', `stage 11: ${file}`);
      bad.push(git(work, 'rev-parse', 'HEAD'));
    }
    git(work, 'push', '-q', 'origin', 'main');
    clone = join(dir, 'clone');
    execFileSync('git', ['clone', '-q', remote, clone]);
  });

  after(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What the remote's main holds: the file's content at its head, and its commits newest first. */
  const atRemote = (file: string) => {
    try {
      return execFileSync('git', ['--git-dir', remote, 'show', `main:${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
  };
  const log = () => execFileSync('git', ['--git-dir', remote, 'log', '--format=%H %s', 'main'], { encoding: 'utf8' }).trim().split('\n');

  async function gitSystem(extra: Record<string, unknown>[] = []) {
    return t.newSystem((doc) => {
      doc.providers.code = { provider: 'git-revert', settings: { repoDir: clone, branch: 'main', authorName: 'rollback-bot', authorEmail: 'rollback-bot@example.invalid' } };
      doc.phases.find((p: { id: number }) => p.id === 11).rollback = [{ 'git-revert': `${base}..${bad.at(-1)}` }, ...extra];
      delete doc.gates['before-phase-11'];
    });
  }
  const input = { reason: 'stage 11 cutover broke conversations', requestedBy: 'alice', baselineSeconds: 0, verifyWindowSeconds: 1 };

  test('reverted as new commits on main and pushed; then a later failure compensates by reverting the reverts', async () => {
    const before = log();
    const system = await gitSystem([{ command: [process.execPath, '-e', 'console.log("smoke test failed"); process.exit(4)'], repeatable: true }]);
    const handle = await startRollback(t, { ...input, system: system.name, phases: [11] }, undefined, 'phaseRollback');
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting_decision', 120_000);
    assert.equal(waiting.pendingDecision?.step, `phase-11/command ${process.execPath}`);
    assert.equal(atRemote('entities.py'), 'ENTITY_MODEL = "v1"\n', 'the bad release is reverted on the remote');
    assert.equal(atRemote('cutover.py'), null);
    const reverted = log();
    assert.equal(reverted.length, before.length + 2, 'two revert commits, nothing rewritten');
    assert.deepEqual(reverted.slice(2), before);
    assert.match(reverted[0]!, /^\w+ Revert "stage 11: entities.py"$/);

    await handle.signal(decideSignal, { by: 'bob', action: 'compensate' });
    assert.equal((await failureOf(handle.result())).type, 'RollbackFailed');
    assert.equal(atRemote('entities.py'), 'ENTITY_MODEL = "v2"\n', 'compensation put the release back');
    assert.equal(atRemote('cutover.py'), 'CUTOVER = True\n');
    const after = log();
    assert.equal(after.length, before.length + 4, 'the undo is two more commits: history only grows');
    assert.deepEqual(after.slice(2), reverted);
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.compensationFailures, []);
    assert.equal(status.steps.find((s) => s.name === `phase-11/git revert ${base}..${bad.at(-1)}`)?.outcome, 'compensated');
    assert.deepEqual(status.snapshot?.values?.find((v) => v.kind === 'git-head'), { kind: 'git-head', provider: 'code', branch: 'main', head: bad.at(-1) });
    assert.match(status.report ?? '', /- git: reverted 2 commit\(s\) of \w+\.\.\w+ as 2 new commit\(s\), pushed/);
    assert.match(status.report ?? '', /- git: undo: the revert of \w+\.\.\w+ reverted by 2 new commit\(s\), pushed/);
  });

  test('a range that is not one, or no git provider, is refused when the runbook loads, naming the action', () => {
    const runbook = (action: Record<string, unknown>, withProvider = true) => {
      const doc = parse(readFileSync(join(import.meta.dirname, '..', 'runbooks', 'sandbox.yaml'), 'utf8')) as Record<string, any>;
      doc.system = 'x';
      if (withProvider) doc.providers.code = { provider: 'git-revert', settings: { repoDir: clone, branch: 'main', authorName: 'bot', authorEmail: 'bot@example.invalid' } };
      doc.phases[0].rollback = [action];
      return () => parseRunbook(stringify(doc), 'runbooks/x.yaml');
    };
    assert.throws(runbook({ 'git-revert': 'HEAD~2..HEAD; git push --force' }), /phases\[0\]\.rollback\[0\]/);
    assert.throws(runbook({ 'git-revert': 'abc123..def456' }, false), {
      message: /runbooks\/x\.yaml: phases\[0\]\.rollback\[0\]: needs a provider of git reverts, and none is under providers: \(one of: git-revert\)/,
    });
    assert.equal((runbook({ 'git-revert': 'abc123..def456' })().phases[0]!.rollback[0] as { provider?: string }).provider, 'code', 'the only git provider is filled in');
  });
});
