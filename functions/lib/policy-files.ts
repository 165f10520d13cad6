/** Where the shipped Cedar schema and default policy set live, and how a policy file is loaded. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PolicyEngine } from './policy-engine.js';

export const SCHEMA_FILE = fileURLToPath(new URL('../../core/policy/warden.cedarschema', import.meta.url));
export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('../../core/policy/default.cedar', import.meta.url));

/** Loads and validates a policy file (the shipped default set when `path` is undefined). */
export async function loadPolicyFile(path: string | undefined): Promise<PolicyEngine> {
  const [text, schema] = await Promise.all([readFile(path ?? DEFAULT_POLICY_FILE, 'utf8'), readFile(SCHEMA_FILE, 'utf8')]);
  return PolicyEngine.load(text, schema);
}
