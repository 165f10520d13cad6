import { fileURLToPath } from 'node:url';

/** The repository root: the Lambda entries, the lock file and the proxy image's build context are found from it. */
export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
