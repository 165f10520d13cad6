/**
 * Plans an SSH command. An exec (and a line typed at a shell) is decided on facts from a
 * real shell parser; a shell, a file operation and a forwarding channel are decided on what
 * they are. A typed line is recorded with its decision but never held or refused here: the
 * gateway cannot see the terminal's editing state, so it does not enforce inside shells.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { AuthorizeCommand } from '../../core/contract.js';
import { enforced, recorded, refusedWhole, type PlannedCommand } from './command-plan.js';
import type { PolicyEngine } from './policy-engine.js';
import type { SessionRecord } from './session-store.js';
import { decideShell, NO_COMMAND } from './shell-decision.js';

export function planSsh(policy: PolicyEngine, session: SessionRecord, command: AuthorizeCommand): PlannedCommand {
  const resource = { type: 'Host', id: session.connection } as const;
  const decide = (action: string, context: Record<string, CedarValueJson>) => policy.decide({ identity: session.identity, action, resource, context: { ...NO_COMMAND, ...context } });
  switch (command.kind) {
    case 'ssh.exec':
    case 'ssh.line': {
      const shell = decideShell(policy, { identity: session.identity, action: 'ssh:exec', resource }, command.text);
      if (!shell.ok) {
        if (command.kind === 'ssh.exec') return refusedWhole(command, policy.version, shell.error, 'unparsable-shell');
        return recorded(command, policy.version, { outcome: 'deny', reason: shell.error, policies: ['unparsable-shell'] }, {});
      }
      const facts = { action: 'ssh:exec', programs: shell.facts.programs, sudo: shell.facts.sudo, nestedShell: shell.facts.nestedShell };
      return command.kind === 'ssh.exec' ? enforced(command, policy.version, shell.decision, facts) : recorded(command, policy.version, shell.decision, { ...facts, enforced: false, inexact: command.inexact ?? false });
    }
    case 'ssh.shell':
      return enforced(command, policy.version, decide('ssh:shell', {}), { action: 'ssh:shell' });
    case 'ssh.sftp': {
      const { operation = '', path = '', targetPath } = command.sftp ?? {};
      return enforced(command, policy.version, decide('ssh:sftp', { operation, path, ...(targetPath ? { targetPath } : {}) }), { action: 'ssh:sftp', operation, path, ...(targetPath ? { targetPath } : {}) });
    }
    case 'ssh.forward': {
      const { direction = 'local', host = '', port = 0 } = command.forward ?? {};
      return enforced(command, policy.version, decide('ssh:forward', { operation: direction, targetHost: host, targetPort: port }), { action: 'ssh:forward', direction, host, port });
    }
    default:
      return refusedWhole(command, policy.version, `${command.kind} is not an SSH command`, 'wrong-protocol');
  }
}
