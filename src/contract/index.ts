/** The contract: names and shapes outsiders type, shared by workflows, worker, CLI, runbooks and docs. */
export * from './names.ts';
export * from './payloads.ts';
export * from './problems.ts';
export * from './secrets.ts';
export * from './signing.ts';
export type * from './status.ts';
export type * from './results.ts';
export * from './inputs.ts';
