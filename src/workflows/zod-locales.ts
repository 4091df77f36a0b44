/**
 * What the workflow bundle gets for zod's `locales` (workflow-bundle-builder.ts aliases zod's
 * locales/index.js here): English, which zod's messages use by default and every message of ours
 * builds on. The other 60-odd languages were 370 KB of the 2.4 MB bundle, evaluated in every worker
 * and kept as source text in both of its isolates; workflow code has no use for them.
 */
export { default as en } from 'zod/v4/locales/en.js';
