// Types for system-packages.mjs (plain JavaScript: the bootstrap runs it before npm packages exist).
export interface Requirement {
  what: string;
  debianPackage: string;
  path?: string;
  pathEnv?: string;
  command?: string;
}
export function testRequirements(env?: Record<string, string | undefined>): Requirement[];
export function isPresent(requirement: Requirement, env?: Record<string, string | undefined>): boolean;
export function planSystemPackages(missing: Requirement[], machine: { isRoot: boolean; hasAptGet: boolean }): { install: string[]; problems: string[] };
export function ensureSystemPackages(requirements: Requirement[], say?: (line: string) => void): string[];
