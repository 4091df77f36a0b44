// Types for test-tiers.mjs (plain JavaScript: the bootstrap runs it).
export type Need = 'temporal' | 'sandbox' | 'docker' | 'browser' | 'cluster' | 'alerting' | 'bundler' | 'crash';
export const NEEDS: Record<Need, string>;
export function needsOf(file: string, text: string): Set<Need>;
export function isFast(needs: Set<Need>): boolean;
export function fastTierGroups(fast: { file: string; needs: Set<Need> }[]): { together: string[]; apart: string[] };
export function findTests(root: string, dir?: string): string[];
export function testTiers(root: string): { file: string; needs: Set<Need> }[];
