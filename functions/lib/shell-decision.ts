/** One decision per shell command line (ssh exec): facts from a real shell parser, then Cedar. */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { IdentityChain } from '../../core/ledger/entry.js';
import type { PolicyDecision, PolicyEngine } from './policy-engine.js';
import { shellFacts, type ShellFacts } from './shell-facts.js';

export type ShellDecision = { readonly ok: true; readonly facts: ShellFacts; readonly decision: PolicyDecision } | { readonly ok: false; readonly error: string };

export function decideShell(engine: PolicyEngine, identity: IdentityChain, host: string, commandLine: string): ShellDecision {
  const result = shellFacts(commandLine);
  if (!result.ok) return { ok: false, error: `the command does not parse: ${result.error}` };
  const decision = engine.decide({ identity, action: 'ssh:exec', resource: { type: 'Host', id: host }, context: shellContext(result.facts) });
  return { ok: true, facts: result.facts, decision };
}

/** The Cedar context (schema type ShellFacts). */
export function shellContext(facts: ShellFacts): Record<string, CedarValueJson> {
  return {
    programs: [...facts.programs],
    sudo: facts.sudo,
    nestedShell: facts.nestedShell,
    usesSubstitution: facts.usesSubstitution,
    redirectsTo: [...facts.usesRedirectionToFile],
    dynamic: facts.dynamic.length > 0,
  };
}
