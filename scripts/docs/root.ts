/** Where the repository is, for the generator and its test. */
import { fileURLToPath } from 'node:url';

/** The repository's root: generated pages and the runbooks they read are found from it. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
