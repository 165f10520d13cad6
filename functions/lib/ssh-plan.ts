/**
 * Plans an SSH command. An exec (and a line typed at a shell) is decided on facts from a
 * real shell parser; a shell, a file operation and a forwarding channel are decided on what
 * they are. A typed line is recorded with its decision but never held or refused here: the
 * gateway cannot see the terminal's editing state, so it does not enforce inside shells.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { AuthorizeCommand } from '../../core/contract.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import { capped, commonData, mergedApproval, refusedWhole, type PlannedCommand } from './command-plan.js';
import type { PolicyDecision, PolicyEngine } from './policy-engine.js';
import type { SessionRecord } from './session-store.js';
import { decideShell } from './shell-decision.js';

/** The ShellFacts context for requests that are not a command line. */
const NO_COMMAND: Record<string, CedarValueJson> = { programs: [], sudo: false, nestedShell: false, usesSubstitution: false, redirectsTo: [], dynamic: false };

export function planSsh(policy: PolicyEngine, session: SessionRecord, command: AuthorizeCommand): PlannedCommand {
  const decide = (action: string, context: Record<string, CedarValueJson>) =>
    policy.decide({ identity: session.identity, action, resource: { type: 'Host', id: session.connection }, context: { ...NO_COMMAND, ...context } });
  switch (command.kind) {
    case 'ssh.exec':
    case 'ssh.line': {
      const shell = decideShell(policy, session.identity, session.connection, command.text);
      if (!shell.ok) {
        if (command.kind === 'ssh.exec') return refusedWhole(command, policy.version, shell.error, 'unparsable-shell');
        return recorded(command, policy, { outcome: 'deny', reason: shell.error, policies: ['unparsable-shell'] }, {});
      }
      const facts = { action: 'ssh:exec', programs: shell.facts.programs, sudo: shell.facts.sudo, nestedShell: shell.facts.nestedShell };
      return command.kind === 'ssh.exec' ? enforced(command, policy, shell.decision, facts) : recorded(command, policy, shell.decision, { ...facts, enforced: false, inexact: command.inexact ?? false });
    }
    case 'ssh.shell':
      return enforced(command, policy, decide('ssh:shell', {}), { action: 'ssh:shell' });
    case 'ssh.sftp': {
      const { operation = '', path = '', targetPath } = command.sftp ?? {};
      return enforced(command, policy, decide('ssh:sftp', { operation, path, ...(targetPath ? { targetPath } : {}) }), { action: 'ssh:sftp', operation, path, ...(targetPath ? { targetPath } : {}) });
    }
    case 'ssh.forward': {
      const { direction = 'local', host = '', port = 0 } = command.forward ?? {};
      return enforced(command, policy, decide('ssh:forward', { operation: direction, targetHost: host, targetPort: port }), { action: 'ssh:forward', direction, host, port });
    }
    default:
      return refusedWhole(command, policy.version, `${command.kind} is not an SSH command`, 'wrong-protocol');
  }
}

/** The decision applies: a deny refuses the command, an approval holds it. */
function enforced(command: AuthorizeCommand, policy: PolicyEngine, decision: PolicyDecision, facts: Record<string, unknown>): PlannedCommand {
  const planned = recorded(command, policy, decision, facts);
  if (decision.outcome === 'deny') return { ...planned, denial: decision.reason };
  const held = mergedApproval([decision]);
  return held ? { ...planned, held, maskedText: String(planned.statements[0]!.data.text) } : planned;
}

/** The decision is recorded; nothing is refused or held by it. */
function recorded(command: AuthorizeCommand, policy: PolicyEngine, decision: PolicyDecision, facts: Record<string, unknown>): PlannedCommand {
  const text = capped(maskText(command.text, contentDetectors).text);
  return {
    command,
    denial: undefined,
    statements: [
      {
        verdict: decision,
        raw: command.text,
        data: {
          ...commonData(command, policy.version),
          statement: 0,
          statements: 1,
          ...facts,
          text,
          decision: decision.outcome,
          policies: decision.policies,
          ...(decision.outcome === 'allow' ? {} : { reason: decision.reason }),
        },
      },
    ],
  };
}
