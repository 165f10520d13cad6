/** Where the shipped Cedar schema and default policy set live, and how a policy file is loaded. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PolicyEngine } from './policy-engine.js';

/** In a Lambda bundle this module is the bundle, and infra/constructs/control-plane-function.ts copies core/policy beside it. */
const bundledPolicies = new URL('./core/policy/', import.meta.url);
const repositoryPolicies = new URL('../../core/policy/', import.meta.url);
const policyDirectory = existsSync(bundledPolicies) ? bundledPolicies : repositoryPolicies;

export const SCHEMA_FILE = fileURLToPath(new URL('warden.cedarschema', policyDirectory));
export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('default.cedar', policyDirectory));

/** Loads and validates a policy file (the shipped default set when `path` is undefined). */
export async function loadPolicyFile(path: string | undefined): Promise<PolicyEngine> {
  const [text, schema] = await Promise.all([readFile(path ?? DEFAULT_POLICY_FILE, 'utf8'), readFile(SCHEMA_FILE, 'utf8')]);
  return PolicyEngine.load(text, schema);
}
