/** One decision per shell command line (ssh exec, kubectl exec): facts from a real shell parser, then Cedar. */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { PolicyDecision, PolicyEngine, PolicyRequest } from './policy-engine.js';
import { shellFacts, type ShellFacts } from './shell-facts.js';

export type ShellDecision = { readonly ok: true; readonly facts: ShellFacts; readonly decision: PolicyDecision } | { readonly ok: false; readonly error: string };

/** Who runs the command line, as which action on which resource; `context` holds any facts beside the shell's. */
export type ShellRequest = Omit<PolicyRequest, 'context'> & { readonly context?: Record<string, CedarValueJson> };

/** The shell facts of a request that is not a command line. */
export const NO_COMMAND: Readonly<Record<string, CedarValueJson>> = { programs: [], sudo: false, nestedShell: false, usesSubstitution: false, redirectsTo: [], dynamic: false };

export function decideShell(engine: PolicyEngine, request: ShellRequest, commandLine: string): ShellDecision {
  const result = shellFacts(commandLine);
  if (!result.ok) return { ok: false, error: `the command does not parse: ${result.error}` };
  const decision = engine.decide({ ...request, context: { ...request.context, ...shellContext(result.facts) } });
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
