/** `warden policy validate` and `warden policy test`: check a policy set and try it, without running anything. */
import { dirname, resolve } from 'node:path';
import { PolicyError, type PolicyDecision, type PolicyEngine } from '../functions/lib/policy-engine.js';
import { loadPolicyFile } from '../functions/lib/policy-files.js';
import { decideShell } from '../functions/lib/shell-decision.js';
import { decideSql } from '../functions/lib/sql-decision.js';
import { sqlParserReady } from '../functions/lib/sql-facts.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';

export async function loadConfiguredPolicy(loaded: LoadedConfig, file: string | undefined): Promise<{ engine: PolicyEngine; file: string }> {
  const configured = loaded.config.policy.file && resolve(loaded.path ? dirname(loaded.path) : process.cwd(), loaded.config.policy.file);
  const path = file ? resolve(file) : configured;
  try {
    return { engine: await loadPolicyFile(path), file: path ?? 'the shipped default set (core/policy/default.cedar)' };
  } catch (error) {
    if (error instanceof PolicyError) throw new CliError(`${path ?? 'the default policy set'}: ${error.message}`, 1);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`cannot read the policy file ${path}`, 2);
    throw error;
  }
}

export interface PolicyTestOptions {
  readonly as: string;
  readonly groups: readonly string[];
  /** The agents acting on the identity's behalf, outermost first. */
  readonly actors: readonly string[];
  readonly connection: string;
  readonly ssh: boolean;
  readonly file?: string;
}

export interface PolicyTestResult {
  readonly outcome: PolicyDecision['outcome'];
  readonly policyVersion: string;
  readonly statements: readonly { readonly text: string; readonly decision: PolicyDecision; readonly facts: unknown }[];
}

export async function testPolicy(loaded: LoadedConfig, options: PolicyTestOptions, command: string): Promise<PolicyTestResult> {
  const { engine } = await loadConfiguredPolicy(loaded, options.file);
  const identity = { sub: options.as, groups: options.groups, chain: 'policy-test', act: options.actors.map((sub) => ({ sub })) };
  if (options.ssh) {
    const result = decideShell(engine, { identity, action: 'ssh:exec', resource: { type: 'Host', id: options.connection } }, command);
    if (!result.ok) return { outcome: 'deny', policyVersion: engine.version, statements: [{ text: command, decision: { outcome: 'deny', policies: ['unparsable-command'], reason: result.error }, facts: null }] };
    return { outcome: result.decision.outcome, policyVersion: engine.version, statements: [{ text: command, decision: result.decision, facts: result.facts }] };
  }
  await sqlParserReady();
  const result = decideSql(engine, identity, options.connection, command);
  if (!result.ok) return { outcome: 'deny', policyVersion: engine.version, statements: [{ text: command, decision: { outcome: 'deny', policies: ['unparsable-sql'], reason: result.error }, facts: null }] };
  const order = { allow: 0, approval: 1, deny: 2 } as const;
  const outcome = result.statements.reduce<PolicyDecision['outcome']>((worst, s) => (order[s.decision.outcome] > order[worst] ? s.decision.outcome : worst), 'allow');
  return { outcome, policyVersion: engine.version, statements: result.statements.map((s) => ({ text: s.text, decision: s.decision, facts: s.facts })) };
}
