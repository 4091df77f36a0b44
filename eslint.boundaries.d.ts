// Types for eslint.boundaries.js (plain JavaScript: ESLint loads it with eslint.config.js).
import type { Linter } from 'eslint';

export const boundaries: Linter.Config[];
export const activityWaits: Linter.Config;
