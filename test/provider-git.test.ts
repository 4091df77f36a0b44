/**
 * The git-revert provider against real git: each test makes a bare repository standing in for the
 * shared remote (reached as file://, with receive.denyNonFastForwards so a force-push could not land,
 * and a reflog of every update of its branch), a developer's clone that made the history, and the
 * worker's own working clone. git is the documented API here (https://git-scm.com/docs/git-revert,
 * https://git-scm.com/docs/git-push), so there is no emulator to write: the tests assert what is
 * in the repositories afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { gitRevert } from '../src/providers/git/git-revert.ts';
import type { ProviderContext } from '../src/providers/types.ts';
import { quietLogger } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'git-revert-'));
after(() => rmSync(root, { recursive: true, force: true }));

const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
// The people and tools in these tests, not the provider: their own identity, no config of the machine's.
const devEnv = {
  PATH: process.env.PATH,
  HOME: root,
  LC_ALL: 'C',
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.com',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.com',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync(realGit, args, { cwd, env: devEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function gitOk(cwd: string, ...args: string[]): boolean {
  try {
    git(cwd, ...args);
    return true;
  } catch {
    return false;
  }
}

/** Writes `files` in `dir` and commits them; returns the commit. */
function commit(dir: string, files: Record<string, string>, message: string): string {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

let worlds = 0;
let template: { base: string; c1: string; c2: string } | undefined;

/** Made once and copied for each test: spawning git is what makes these tests slow. */
function makeTemplate(dir: string) {
  mkdirSync(dir);
  const bare = join(dir, 'remote.git');
  git(dir, 'init', '--quiet', '--bare', '-b', 'main', bare);
  git(bare, 'config', 'receive.denyNonFastForwards', 'true');
  git(bare, 'config', 'core.logAllRefUpdates', 'always');
  const dev = join(dir, 'dev');
  git(dir, 'clone', '--quiet', bare, dev);
  const base = commit(dev, { 'app.txt': 'version 1\n', 'config.txt': 'timeout=5\n' }, 'base');
  const c1 = commit(dev, { 'app.txt': 'version 2\n' }, 'app v2');
  const c2 = commit(dev, { 'feature.txt': 'new feature\n' }, 'add feature');
  git(dev, 'push', '--quiet', 'origin', 'main');
  git(dir, 'clone', '--quiet', `file://${bare}`, join(dir, 'work'));
  return { base, c1, c2 };
}

/**
 * remote.git (bare, the shared remote) <- dev (made base, c1 "app v2", c2 "add feature") and work
 * (the worker's clone, cloned through file://).
 */
function world() {
  const templateDir = join(root, 'template');
  template ??= makeTemplate(templateDir);
  const { base, c1, c2 } = template;
  const dir = join(root, `w${++worlds}`);
  cpSync(templateDir, dir, { recursive: true });
  const bare = join(dir, 'remote.git');
  const dev = join(dir, 'dev');
  const work = join(dir, 'work');
  git(dev, 'remote', 'set-url', 'origin', bare);
  git(work, 'remote', 'set-url', 'origin', `file://${bare}`);
  const settings = { repoDir: work, branch: 'main', authorName: 'rollback-bot', authorEmail: 'rollback-bot@example.com' };
  return {
    dir,
    bare,
    dev,
    work,
    base,
    c1,
    c2,
    settings,
    /** Someone else commits on top of the remote branch and pushes. */
    devPush(files: Record<string, string>, message: string): string {
      git(dev, 'pull', '--quiet', '--ff-only', 'origin', 'main');
      const sha = commit(dev, files, message);
      git(dev, 'push', '--quiet', 'origin', 'main');
      return sha;
    },
    remoteHead: () => git(bare, 'rev-parse', 'main'),
    remoteFile: (name: string) => (gitOk(bare, 'cat-file', '-e', `main:${name}`) ? git(bare, 'show', `main:${name}`) : null),
    /** Every update of the remote branch: old and new commit, from the bare repository's reflog. */
    updates: () =>
      readFileSync(join(bare, 'logs', 'refs', 'heads', 'main'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => ({ old: line.split(' ')[0]!, new: line.split(' ')[1]! })),
  };
}

type World = ReturnType<typeof world>;

const baseEnv = { PATH: process.env.PATH, HOME: root };

function client(settings: Record<string, unknown>, context: Partial<ProviderContext> = {}) {
  return gitRevert.create(gitRevert.settingsSchema.parse(settings), { env: baseEnv, logger: quietLogger, ...context }).reverts;
}

const key = (name: string) => ({ idempotencyKey: `rollback-42/${name}`, actor: 'alice' });

/** Every update of the remote branch was a fast-forward: history was only appended to. */
function assertOnlyAppended(w: World) {
  for (const update of w.updates()) {
    if (/^0+$/.test(update.old)) continue;
    assert.ok(gitOk(w.bare, 'merge-base', '--is-ancestor', update.old, update.new), `${update.old} -> ${update.new} is a fast-forward`);
  }
}

/** The worker's clone is clean, on main, with nothing in progress. */
function assertCleanClone(w: World, at: string) {
  assert.equal(git(w.work, 'status', '--porcelain', '--untracked-files=all'), '');
  assert.equal(git(w.work, 'symbolic-ref', 'HEAD'), 'refs/heads/main');
  assert.equal(git(w.work, 'rev-parse', 'HEAD'), at);
  assert.equal(existsSync(join(w.work, '.git', 'REVERT_HEAD')), false);
  assert.equal(existsSync(join(w.work, '.git', 'rollback-runbooks-revert')), false);
}

describe('git-revert provider on real git: a bare file:// remote and a working clone', () => {
  test('readHead fetches the branch and returns the remote head, leaving the clone\'s branch where it is', async () => {
    const w = world();
    const reverts = client(w.settings);
    assert.deepEqual(await reverts.readHead(), { branch: 'main', head: w.c2 });
    const c3 = w.devPush({ 'other.txt': 'x\n' }, 'other change');
    assert.deepEqual(await reverts.readHead(), { branch: 'main', head: c3 });
    assert.equal(git(w.work, 'rev-parse', 'main'), w.c2);
  });

  test('reverting a range of 2 commits pushes 2 new revert commits on top: contents back to before, history only appended', async () => {
    const w = world();
    const writesBefore = w.updates().length;
    const result = await client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code'));

    assert.deepEqual(result.reverted, [w.c2, w.c1]);
    assert.equal(result.head, w.remoteHead());
    assert.deepEqual(git(w.bare, 'rev-list', `${w.c2}..main`).split('\n'), result.created, 'two new commits, newest first, one per reverted commit');
    assert.equal(w.remoteFile('app.txt'), 'version 1');
    assert.equal(w.remoteFile('feature.txt'), null);
    assert.equal(w.remoteFile('config.txt'), 'timeout=5');
    assert.ok(gitOk(w.bare, 'merge-base', '--is-ancestor', w.c2, result.head), 'the old head is an ancestor of the new one');
    assert.deepEqual(w.updates().slice(writesBefore), [{ old: w.c2, new: result.head }], 'one push, a fast-forward');
    assertOnlyAppended(w);

    // c2 is reverted first, so the newest commit is the revert of c1.
    assert.equal(
      git(w.bare, 'log', '-1', '--format=%B', result.created[1]!),
      `Revert "add feature"\n\nThis reverts commit ${w.c2}.\n\nRollback-Key: rollback-42/revert-code\nReverts: ${w.c2}\nRollback-Actor: alice`,
    );
    assert.match(git(w.bare, 'log', '-1', '--format=%B', result.created[0]!), new RegExp(`^Revert "app v2"[\\s\\S]*\\nReverts: ${w.c1}\\n`));
    for (const sha of result.created) {
      assert.equal(git(w.bare, 'log', '-1', '--format=%an <%ae> | %cn <%ce>', sha), 'rollback-bot <rollback-bot@example.com> | rollback-bot <rollback-bot@example.com>');
    }
    assertCleanClone(w, result.head);
  });

  test('the same idempotency key twice creates and pushes nothing the second time', async () => {
    const w = world();
    const reverts = client(w.settings);
    const first = await reverts.revert(`${w.base}..${w.c2}`, key('revert-code'));
    const writes = w.updates().length;
    const commits = git(w.bare, 'rev-list', '--count', 'main');

    const second = await client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code'));
    assert.deepEqual(second, first);
    assert.equal(w.updates().length, writes, 'no push');
    assert.equal(git(w.bare, 'rev-list', '--count', 'main'), commits, 'no new commit');
    assertCleanClone(w, first.head);
  });

  test('undo: reverting the created revert commits restores the change, again as new commits on top', async () => {
    const w = world();
    const reverts = client(w.settings);
    const rollback = await reverts.revert(`${w.base}..${w.c2}`, key('revert-code'));
    const undoRange = `${rollback.created.at(-1)}~1..${rollback.created[0]}`;

    const undo = await reverts.revert(undoRange, key('undo-revert-code'));
    assert.deepEqual(undo.reverted, rollback.created, 'newest first, like the commits they were');
    assert.equal(undo.created.length, 2);
    assert.equal(w.remoteFile('app.txt'), 'version 2');
    assert.equal(w.remoteFile('feature.txt'), 'new feature');
    assert.ok(gitOk(w.bare, 'merge-base', '--is-ancestor', rollback.head, undo.head));
    assertOnlyAppended(w);
    // The undo is itself repeatable.
    const writes = w.updates().length;
    assert.deepEqual(await reverts.revert(undoRange, key('undo-revert-code')), undo);
    assert.equal(w.updates().length, writes);
  });

  test('a push that failed leaves the commits on the local branch; the retry with the same key pushes them without reverting again', async () => {
    const w = world();
    const frozen = join(w.dir, 'frozen');
    writeFileSync(frozen, '');
    writeFileSync(join(w.bare, 'hooks', 'pre-receive'), `#!/bin/sh\nif [ -f '${frozen}' ]; then echo 'main is frozen for the release' >&2; exit 1; fi\n`);
    chmodSync(join(w.bare, 'hooks', 'pre-receive'), 0o755);
    const reverts = client(w.settings);

    await assert.rejects(reverts.revert(`${w.base}..${w.c2}`, key('revert-code')), {
      message: `git push origin main from ${w.work} failed: [remote rejected] (pre-receive hook declined); the revert commits are committed on local branch main there: a retry with the same idempotency key pushes them without reverting again`,
    });
    assert.equal(w.remoteHead(), w.c2);
    const local = git(w.work, 'rev-list', `${w.c2}..main`).split('\n');
    assert.equal(local.length, 2);

    rmSync(frozen);
    const result = await reverts.revert(`${w.base}..${w.c2}`, key('revert-code'));
    assert.deepEqual(result.created, local, 'the commits made by the first call, pushed as they were');
    assert.equal(result.head, w.remoteHead());
    assert.equal(git(w.bare, 'rev-list', '--count', `${w.c2}..main`), '2');
    assertCleanClone(w, result.head);
  });

  test('a merge commit in the range is refused without mainline, naming it; with mainline 1 its revert takes back the whole merge', async () => {
    const w = world();
    git(w.dev, 'switch', '--quiet', '-c', 'topic');
    commit(w.dev, { 'topic.txt': 'topic work\n' }, 'topic work');
    git(w.dev, 'switch', '--quiet', 'main');
    git(w.dev, 'merge', '--quiet', '--no-ff', '-m', "Merge branch 'topic'", 'topic');
    git(w.dev, 'push', '--quiet', 'origin', 'main');
    const merge = git(w.dev, 'rev-parse', 'HEAD');
    const writes = w.updates().length;

    await assert.rejects(client(w.settings).revert(`${w.c2}..${merge}`, key('revert-merge')), {
      message: `commit ${merge} ("Merge branch 'topic'") in range '${w.c2}..${merge}' is a merge commit: set the provider's mainline setting (1 to keep the branch it was merged into) to revert it; nothing was reverted`,
    });
    assert.equal(w.updates().length, writes);
    assertCleanClone(w, merge);

    const result = await client({ ...w.settings, mainline: 1 }).revert(`${w.c2}..${merge}`, key('revert-merge'));
    assert.deepEqual(result.reverted, [merge], 'the topic branch\'s own commit is taken back by the merge\'s revert, not reverted twice');
    assert.equal(result.created.length, 1);
    assert.equal(w.remoteFile('topic.txt'), null);
    assert.equal(w.remoteFile('app.txt'), 'version 2');
    assertOnlyAppended(w);
  });

  test('a conflict aborts the revert, names the commit and the file, pushes nothing and leaves the clone clean on the branch', async () => {
    const w = world();
    const c3 = w.devPush({ 'app.txt': 'version 3\n' }, 'app v3');
    const writes = w.updates().length;

    // c2 reverts cleanly first (newest first), then c1 conflicts with c3: nothing of the range may land.
    await assert.rejects(client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code')), {
      message: `git revert of ${w.c1} ("app v2") conflicts with origin/main in app.txt; the revert was aborted (git revert --abort) and nothing was committed or pushed, the clone is clean: revert it by hand, or revert the later commits that touch the same lines with it`,
    });
    assert.equal(w.updates().length, writes);
    assert.equal(w.remoteHead(), c3);
    assertCleanClone(w, c3);
    assert.equal(readFileSync(join(w.work, 'app.txt'), 'utf8'), 'version 3\n');
  });

  test('a dirty clone is refused naming the files, which are left untouched', async () => {
    const w = world();
    writeFileSync(join(w.work, 'app.txt'), 'hand edit in progress\n');
    writeFileSync(join(w.work, 'notes.txt'), 'scratch\n');
    const writes = w.updates().length;

    await assert.rejects(client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code')), {
      message: `the working clone ${w.work} has uncommitted changes (app.txt, notes.txt); nothing was reverted and they were left as they are: commit, move or remove them there, then retry`,
    });
    assert.equal(readFileSync(join(w.work, 'app.txt'), 'utf8'), 'hand edit in progress\n');
    assert.equal(readFileSync(join(w.work, 'notes.txt'), 'utf8'), 'scratch\n');
    assert.equal(git(w.work, 'rev-parse', 'HEAD'), w.c2);
    assert.equal(w.updates().length, writes);
  });

  test('a revert a person left in progress is refused; one this provider left when its worker died is aborted and redone by the retry', async () => {
    const w = world();
    git(w.work, 'revert', '--no-commit', w.c2);
    await assert.rejects(client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code')), {
      message: `a git revert is in progress in the working clone ${w.work} (not started by this provider); nothing was reverted and it was left as it is: finish or abort it there (git revert --continue or --abort), then retry`,
    });
    assert.ok(existsSync(join(w.work, '.git', 'REVERT_HEAD')));
    assert.equal(git(w.work, 'status', '--porcelain'), 'D  feature.txt');
    git(w.work, 'revert', '--abort');

    // What a worker killed mid-call leaves: our marker, a detached HEAD, a revert half-way.
    writeFileSync(join(w.work, '.git', 'rollback-runbooks-revert'), '{"key":"rollback-42/revert-code"}\n');
    git(w.work, 'switch', '--quiet', '--detach');
    git(w.work, 'revert', '--no-commit', w.c2);
    const result = await client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code'));
    assert.equal(result.created.length, 2);
    assert.equal(w.remoteFile('app.txt'), 'version 1');
    assert.equal(w.remoteFile('feature.txt'), null);
    assertCleanClone(w, result.head);
  });

  test('a local branch with commits that are not this rollback\'s is refused and left as it is (never reset)', async () => {
    const w = world();
    const hotfix = commit(w.work, { 'hotfix.txt': 'local only\n' }, 'local hotfix');
    await assert.rejects(client(w.settings).revert(`${w.base}..${w.c2}`, key('revert-code')), {
      message: `local branch main in ${w.work} has 1 commit(s) not on origin/main that this rollback did not make (${hotfix.slice(0, 12)}); nothing was reverted and the branch was left as it is (never reset): push or remove them there by hand, then retry`,
    });
    assert.equal(git(w.work, 'rev-parse', 'main'), hotfix);
    assert.equal(w.remoteHead(), w.c2);
  });

  test('the remote moved on between fetch and push: our commits are rebased on top of theirs and pushed, their commit kept', async () => {
    const w = world();
    // A `git` first on PATH that, the first time the provider pushes, has someone else push first.
    const bin = join(w.dir, 'bin');
    mkdirSync(bin);
    const once = join(w.dir, 'interlope-once');
    writeFileSync(once, '');
    writeFileSync(
      join(bin, 'git'),
      [
        '#!/bin/sh',
        'case " $* " in *" push "*)',
        `  if [ -f '${once}' ]; then rm -f '${once}'; (`,
        '    unset GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL',
        `    cd '${w.dev}' && '${realGit}' pull -q --ff-only origin main && echo hello > other.txt && '${realGit}' add other.txt &&`,
        `    '${realGit}' -c user.name=Dev -c user.email=dev@example.com commit -q -m "someone else's fix" && '${realGit}' push -q origin main`,
        '  ) >/dev/null 2>&1; fi;;',
        'esac',
        `exec '${realGit}' "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(join(bin, 'git'), 0o755);

    const reverts = client(w.settings, { env: { ...baseEnv, PATH: `${bin}:${process.env.PATH}` } });
    const result = await reverts.revert(`${w.base}..${w.c2}`, key('revert-code'));
    const theirs = git(w.bare, 'log', '--format=%H', '--grep', "someone else's fix", 'main');
    assert.ok(theirs, 'their commit is on the remote');
    assert.equal(result.head, w.remoteHead());
    assert.deepEqual(git(w.bare, 'rev-list', `${theirs}..main`).split('\n'), result.created, 'our two commits on top of theirs');
    assert.equal(git(w.bare, 'rev-parse', 'main~2'), theirs);
    assert.equal(w.remoteFile('other.txt'), 'hello');
    assert.equal(w.remoteFile('app.txt'), 'version 1');
    assert.equal(w.remoteFile('feature.txt'), null);
    assert.deepEqual(
      w.updates().slice(-2).map((u) => u.old),
      [w.c2, theirs],
      'their push, then ours on top of it',
    );
    assertOnlyAppended(w);
    assertCleanClone(w, result.head);
    // And the repeat finds the rebased commits by their key.
    assert.deepEqual(await reverts.revert(`${w.base}..${w.c2}`, key('revert-code')), result);
  });

  test('a commit that is not on the branch is refused, and an unknown one', async () => {
    const w = world();
    git(w.work, 'switch', '--quiet', '-c', 'side');
    const side = commit(w.work, { 'side.txt': 'x\n' }, 'side work');
    git(w.work, 'switch', '--quiet', 'main');
    await assert.rejects(client(w.settings).revert(side, key('revert-side')), {
      message: `commit ${side} is not on origin/main: only commits of the branch can be reverted there; nothing was reverted`,
    });
    await assert.rejects(client(w.settings).revert(`${w.base}..deadbeef`, key('revert-x')), {
      message: `commit 'deadbeef' of range '${w.base}..deadbeef' is not known in ${w.work} after fetching origin/main: give commits of origin/main; nothing was reverted`,
    });
    await assert.rejects(client(w.settings).revert(`${w.c2}..${w.c1}`, key('revert-x')), {
      message: `range '${w.c2}..${w.c1}': '${w.c2}' is not an ancestor of '${w.c1}', so the range would take in unrelated history; give A..B with A older than B on origin/main; nothing was reverted`,
    });
    assert.equal(w.remoteHead(), w.c2);
  });

  test('bad range syntax and a multi-line key are refused before git runs', async () => {
    const w = world();
    const reverts = client({ ...w.settings, repoDir: join(w.dir, 'no-such-clone') });
    for (const range of ['a...b', '--upload-pack=touch /tmp/pwned', 'HEAD;rm -rf /', '', 'a..b..c', 'main@{1}', ' main', 'main:app.txt', '^main']) {
      await assert.rejects(reverts.revert(range, key('bad')), {
        message: `range '${range}' is not a commit or an A..B range of commits (names of letters, digits and . _ / ~ ^ - only); nothing was reverted`,
      });
    }
    await assert.rejects(reverts.revert('main', { idempotencyKey: 'a\nb', actor: 'alice' }), {
      message: 'the idempotency key must be one non-empty line: it is written into the revert commits',
    });
    await assert.rejects(reverts.readHead(), {
      message: `the working clone ${join(w.dir, 'no-such-clone')} (repoDir) does not exist: clone origin/main there first (git clone <url> ${join(w.dir, 'no-such-clone')})`,
    });
    // A directory inside another repository is not a clone: git must not walk up into the parent.
    mkdirSync(join(w.dev, 'sub'));
    await assert.rejects(client({ ...w.settings, repoDir: join(w.dev, 'sub') }).readHead(), {
      message: `${join(w.dev, 'sub')} (repoDir) is not the top of a git working clone: clone origin/main there first`,
    });
  });

  test('bad settings are refused naming the field', () => {
    const good = { repoDir: './clone', branch: 'main', authorName: 'rollback-bot', authorEmail: 'rollback-bot@example.com' };
    assert.equal(gitRevert.settingsSchema.safeParse(good).success, true);
    assert.deepEqual(gitRevert.settingsSchema.parse(good), { ...good, remote: 'origin', tokenUser: 'x-access-token', timeoutSeconds: 120 });
    assert.equal(gitRevert.settingsSchema.safeParse(gitRevert.example).success, true);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, branch: undefined }, 'branch'],
      [{ ...good, branch: 'main..other' }, 'branch'],
      [{ ...good, branch: '--force' }, 'branch'],
      [{ ...good, remote: '--upload-pack=x' }, 'remote'],
      [{ ...good, repoDir: '' }, 'repoDir'],
      [{ ...good, authorEmail: 'bot <bot@example.com>' }, 'authorEmail'],
      [{ ...good, tokenEnv: 'ghp_actualTokenValue' }, 'tokenEnv'],
      [{ ...good, sshCommandEnv: 'ssh -i key' }, 'sshCommandEnv'],
      [{ ...good, mainline: 3 }, 'mainline'],
      [{ ...good, timeoutSeconds: 0 }, 'timeoutSeconds'],
    ];
    for (const [settings, field] of cases) {
      const parsed = gitRevert.settingsSchema.safeParse(settings);
      assert.equal(parsed.success, false, field);
      assert.deepEqual(parsed.error!.issues.map((i) => i.path.join('.')), [field]);
    }
    const extra = gitRevert.settingsSchema.safeParse({ ...good, force: true });
    assert.equal(extra.success, false);
    assert.deepEqual(extra.error!.issues.map((i) => [i.code, 'keys' in i ? i.keys : []]), [['unrecognized_keys', ['force']]]);
  });

  test('the token and the ssh command never appear in output, logs, errors or results, nor in git\'s argv', async () => {
    const w = world();
    const token = 'ghp_S3cretTokenValue0123456789';
    const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
    const sshCommand = 'ssh-wrapper-with-secret-Zx81Qq';
    // A `git` first on PATH that records its argv and shows what it was given in the environment.
    const bin = join(w.dir, 'bin');
    mkdirSync(bin);
    const argvLog = join(w.dir, 'argv.log');
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\necho "$* | $GIT_CONFIG_KEY_0" >> '${argvLog}'\necho "given: $GIT_CONFIG_VALUE_0" >&2\nexec '${realGit}' "$@"\n`,
    );
    chmodSync(join(bin, 'git'), 0o755);
    const logs: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
    const env = { ...baseEnv, PATH: `${bin}:${process.env.PATH}`, GIT_PUSH_TOKEN: token, DEPLOY_SSH: sshCommand };
    const seen: string[] = [];
    const attempt = async (work: () => Promise<unknown>) => {
      try {
        seen.push(JSON.stringify(await work()));
      } catch (err) {
        seen.push((err as Error).message, (err as Error).stack ?? '');
      }
    };

    const reverts = client({ ...w.settings, tokenEnv: 'GIT_PUSH_TOKEN', sshCommandEnv: 'DEPLOY_SSH' }, { env, logger });
    await attempt(() => reverts.readHead());
    await attempt(() => reverts.revert(`${w.base}..${w.c2}`, key('revert-code')));
    w.devPush({ 'feature.txt': 'changed by someone\n' }, 'feature tweak');
    await attempt(() => reverts.revert(`${w.base}..${w.c2}`, key('undo-nothing'))); // conflicts: an error with git's output
    assert.equal(w.remoteFile('app.txt'), 'version 1', 'the revert went through with the token configured');
    assert.ok(seen.some((text) => text.startsWith(`git revert of ${w.c2} ("add feature") conflicts with origin/main in feature.txt`)), 'a failure with git output was seen');

    // Over HTTP the header is really sent; the server answers 401 and git must not prompt.
    const authorizations: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      authorizations.push((req.headers as IncomingHttpHeaders).authorization);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    git(w.work, 'remote', 'add', 'web', `http://127.0.0.1:${port}/team/app.git`);
    git(w.work, 'remote', 'add', 'sshremote', 'ssh://git.example.invalid/team/app.git');
    try {
      const web = client({ ...w.settings, remote: 'web', tokenEnv: 'GIT_PUSH_TOKEN' }, { env, logger });
      await assert.rejects(web.readHead(), (err: Error) => {
        assert.ok(err.message.startsWith(`git fetch web main in ${w.work} failed (exit 128): `), err.message);
        assert.match(err.message, /given: Authorization: Basic \*\*\*/);
        return true;
      });
      await attempt(() => web.readHead());
    } finally {
      server.close();
    }
    assert.ok(authorizations.length > 0);
    assert.ok(authorizations.every((a) => a === `Basic ${basic}`), 'the token went in the Authorization header');
    const ssh = client({ ...w.settings, remote: 'sshremote', sshCommandEnv: 'DEPLOY_SSH' }, { env, logger });
    await assert.rejects(ssh.readHead(), (err: Error) => {
      assert.match(err.message, /^git fetch sshremote main in .* failed \(exit 128\): .*\*\*\*/);
      return true;
    });
    await attempt(() => ssh.readHead());

    const argv = readFileSync(argvLog, 'utf8');
    assert.match(argv, /\| http\.extraHeader$/m, 'the header went through GIT_CONFIG_* variables');
    const everything = [...seen, ...logs, argv].join('\n');
    assert.ok(logs.length > 0 && seen.length > 0);
    for (const secret of [token, basic, sshCommand]) assert.equal(everything.includes(secret), false, 'a secret leaked');
  });
});
