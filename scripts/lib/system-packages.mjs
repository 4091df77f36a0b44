// What `npm test` needs from the machine beyond npm packages and the Temporal CLI, and how it gets it:
// Debian's packages installed on the spot where we are root, else one line saying what to install.
// Plain JavaScript: the bootstrap runs it before `npm ci` has installed anything.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @typedef {{ what: string, debianPackage: string, path?: string, pathEnv?: string, command?: string }} Requirement */

/** @returns {Requirement[]} */
export function testRequirements(env = process.env) {
  return [
    {
      what: 'Chromium (the browser test drives the Temporal Web UI in it)',
      debianPackage: 'chromium',
      path: env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      pathEnv: env.CHROMIUM_PATH ? 'CHROMIUM_PATH' : undefined,
    },
    { what: 'pg_dump and pg_restore (backups, safety dumps and restores)', debianPackage: 'postgresql-client', command: 'pg_restore' },
    { what: 'a Docker engine (the docker-compose provider\'s tests start a private dockerd)', debianPackage: 'docker.io', path: env.DOCKERD_PATH ?? '/usr/sbin/dockerd', pathEnv: env.DOCKERD_PATH ? 'DOCKERD_PATH' : undefined },
    { what: 'busybox (the tiny HTTP service in the Docker test images)', debianPackage: 'busybox-static', path: '/bin/busybox' },
    { what: 'sqlite3 (SQLite restores check and read their files with it)', debianPackage: 'sqlite3', command: 'sqlite3' },
    { what: 'ssh-keygen (the signed-approval tests sign and verify with it, as an approver would)', debianPackage: 'openssh-client', command: 'ssh-keygen' },
  ];
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether a requirement is met here: its path is executable, or its command is on PATH. */
export function isPresent(requirement, env = process.env) {
  if (requirement.path) return executable(requirement.path);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir && executable(join(dir, requirement.command)));
}

/**
 * What to do about missing requirements: Debian packages to install (only as root with apt-get), and
 * problems to report otherwise, each one line naming what to install. Pure, so its rules are tested.
 * @param {Requirement[]} missing
 * @param {{ isRoot: boolean, hasAptGet: boolean }} machine
 */
export function planSystemPackages(missing, machine) {
  const install = [];
  const problems = [];
  for (const requirement of missing) {
    if (requirement.pathEnv) {
      // Told where it is, and it is not there: installing a package would not put it there.
      problems.push(`${requirement.pathEnv}=${requirement.path} does not exist or is not executable; point it at ${requirement.what.split(' (')[0]} or unset it to use Debian's package`);
    } else if (machine.isRoot && machine.hasAptGet) {
      install.push(requirement.debianPackage);
    } else {
      const how = machine.hasAptGet ? `sudo apt-get install -y ${requirement.debianPackage}` : `your system's ${requirement.debianPackage} package`;
      problems.push(`${requirement.what} is missing: install it with ${how}${requirement.path ? ', or set CHROMIUM_PATH to a Chromium binary' : ''}`);
    }
  }
  return { install, problems };
}

/**
 * Makes the requirements present or says why it cannot: installs Debian packages where we are root
 * (saying so while apt-get works), returns the problems left (empty when all is well).
 */
export function ensureSystemPackages(requirements, say = console.log) {
  const missing = requirements.filter((r) => !isPresent(r));
  if (missing.length === 0) return [];
  const hasAptGet = isPresent({ command: 'apt-get' });
  const { install, problems } = planSystemPackages(missing, { isRoot: process.getuid?.() === 0, hasAptGet });
  if (install.length > 0) {
    say(`\n==> Installing Debian packages the tests need: ${install.join(', ')} (apt-get; a few minutes the first time)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...install]]) {
      const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
      if (result.status !== 0) return [`apt-get ${args.join(' ')} failed (exit ${result.status}); install ${install.join(', ')} by hand`];
    }
    for (const requirement of missing.filter((r) => install.includes(r.debianPackage))) {
      if (!isPresent(requirement)) problems.push(`${requirement.what}: package ${requirement.debianPackage} installed, but ${requirement.path ?? requirement.command} is still missing`);
    }
  }
  return problems;
}
