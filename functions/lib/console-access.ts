/** Who may do what in the web console: config `console` names the groups (core/console-api.ts). */
import type { ConsoleAccess } from '../../core/console-api.js';
import { WardenError } from '../../core/errors.js';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { Runtime } from './runtime.js';

export function consoleAccess(runtime: Pick<Runtime, 'config'>, caller: IdentityChain): ConsoleAccess {
  const { readers, approvers } = runtime.config.console;
  const inAny = (groups: readonly string[]) => groups.some((group) => caller.groups.includes(group));
  return { sub: caller.sub, groups: [...caller.groups], read: inAny(readers), approve: inAny(approvers) };
}

/** Sessions, recordings and the ledger's status are for the reader groups only. */
export function requireReader(runtime: Pick<Runtime, 'config'>, caller: IdentityChain): void {
  if (consoleAccess(runtime, caller).read) return;
  const readers = runtime.config.console.readers;
  throw new WardenError(
    'INVALID_SCOPE',
    `${caller.sub} is not in a console reader group (${readers.join(', ') || 'none configured'}); ask an administrator to add you to one, or to list one of your groups in console.readers`,
  );
}
