/**
 * The deployment's context parameters (cdk.json holds the defaults; `-c key=value` overrides
 * them), checked once so that a typo fails the synth with the parameter's name.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Node } from 'constructs';
import { z } from 'zod';
import { parseConfigText } from '../core/config.js';

/** `-c` values arrive as strings: numbers, lists and maps are parsed from them. */
const fromCli = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    if (/^\s*[[{]/.test(value)) {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    }
    return /^\d+$/.test(value) ? Number(value) : value;
  }, schema);

const secretName = z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager name: letters, digits and /_+=.@-');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name: A-Z, 0-9 and _');
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 10.0.0.0/8');

const contextParameters = z.strictObject({
  /** Physical table names are PREFIX-batches, PREFIX-ledger … (functions/lib/tables.ts). */
  tablePrefix: z.string().regex(/^[A-Za-z0-9_.-]{3,100}$/, 'at least 3 characters of A-Z, a-z, 0-9, _ . -'),
  /**
   * The `iss` of Warden's own tokens, which the HTTP API's JWT authorizer checks on the public
   * bearer routes. Unset: the API's execute-api URL. Set it when a custom domain fronts the API.
   */
  tokenIssuer: z.url({ protocol: /^https$/ }).optional(),
  /** The `aud` value the JWT authorizer requires in Warden tokens. */
  tokenAudience: z.string().min(1),
  /** The OpenID Connect provider whose tokens POST /v1/token exchanges, and the audience it puts in them. */
  idpIssuer: z.url({ protocol: /^https$/ }).optional(),
  idpAudience: z.string().min(1).optional(),
  slackWebhookUrlSecretName: secretName,
  slackSigningSecretName: secretName,
  /** Target credentials: the environment variable the proxy reads (passwordEnv, privateKeyEnv, tokenEnv) → its secret's name. */
  targetSecrets: fromCli(z.record(envName, secretName)),
  /** Object Lock COMPLIANCE retention of every evidence object. */
  evidenceRetentionDays: fromCli(z.number().int().min(1).max(36_500)),
  /** How often the scheduled export writes a bundle (functions/export-scheduled.ts). */
  evidenceExportIntervalMinutes: fromCli(z.number().int().min(5).max(10_080)),
  nlbScheme: z.enum(['internal', 'internet-facing']),
  /** Who may open connections to the NLB. Unset: the proxy VPC's own range (internal NLB only). */
  clientCidrs: fromCli(z.array(cidr).min(1)).optional(),
  logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
  /**
   * A warden.yaml (relative to the repository), checked at synth: each function ships it (and its
   * policy.file) in its bundle, and the proxy fleet gets its text (readConfigFile).
   */
  configFile: z.string().min(1).optional(),
});

const settingsSchema = contextParameters.refine((settings) => settings.nlbScheme === 'internal' || settings.clientCidrs !== undefined, {
  message: 'an internet-facing NLB needs clientCidrs: say who may connect (["0.0.0.0/0"] for anyone)',
  path: ['clientCidrs'],
});

export type Settings = z.infer<typeof settingsSchema>;

export function readSettings(node: Node): Settings {
  const keys = Object.keys(contextParameters.shape);
  const values = Object.fromEntries(keys.map((key) => [key, node.tryGetContext(key) as unknown]).filter(([, value]) => value !== undefined));
  const parsed = settingsSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(context)'}: ${issue.message}`);
    throw new Error(`invalid CDK context (cdk.json or -c): ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The configFile as the deployment ships it, read and checked once at synth. */
export interface DeployedConfig {
  /** The warden.yaml, absolute. */
  readonly file: string;
  readonly text: string;
  /** The Cedar file its policy.file names (relative to the config), absolute; unset: the shipped default set. */
  readonly policyFile?: string;
  /** SHA-256 of the config's and the policy file's contents. */
  readonly digest: string;
}

/** Reads `file` and checks it as the functions will (parseConfigText): a bad config, or a policy.file that is not there, fails the synth naming the file. */
export function readConfigFile(file: string): DeployedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`configFile: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}); fix the path (relative to the repository)`, { cause: error });
  }
  const config = parseConfigText(text, `configFile ${file}`);
  const digest = createHash('sha256').update(text);
  if (config.policy.file === undefined) return { file, text, digest: digest.digest('hex') };
  const policyFile = resolve(dirname(file), config.policy.file);
  if (!statSync(policyFile, { throwIfNoEntry: false })?.isFile()) throw new Error(`configFile ${file}: policy.file ${policyFile} is missing or not a file; fix the path (relative to the config file)`);
  return { file, text, policyFile, digest: digest.update('\0').update(readFileSync(policyFile)).digest('hex') };
}
