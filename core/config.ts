/**
 * The schema of warden.yaml. Loading (files, environment) lives in cli/config-file.ts;
 * this module only says what a valid configuration is, so the control plane, the proxy
 * and the CLI agree on it.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { contentDetectors } from './masking/detectors.js';

const contentDetectorIds = contentDetectors.map((detector) => detector.id) as [string, ...string[]];

const port = z.number().int().min(0).max(65_535);
const host = z.string().min(1);
/** How long a proxy client may take to log in; PostgreSQL's authentication_timeout allows 1 to 600. */
const loginTimeoutSeconds = z.number().int().min(1).max(600);
const listen = (defaultPort: number) =>
  z.strictObject({ host: host.default('127.0.0.1'), port: port.default(defaultPort) }).prefault({});

const connectionName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_" (at most 63 characters)');

export const postgresConnectionSchema = z
  .strictObject({
    kind: z.literal('postgres'),
    host,
    port: port.default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    /** The name of an environment variable holding the password: keeps it out of the file. */
    passwordEnv: z.string().min(1).optional(),
    /** A literal password. Prefer passwordEnv; never commit a file that has one. */
    password: z.string().optional(),
    /** TLS to the server, as libpq's sslmode: verify-full checks the chain against caFile and the host name. */
    tls: z.enum(['disable', 'prefer', 'require', 'verify-full']).default('prefer'),
    /** PEM file of the CA that signed the server's certificate (verify-full); the system roots when unset. */
    caFile: z.string().min(1).optional(),
  })
  .refine((c) => !(c.password !== undefined && c.passwordEnv !== undefined), {
    message: 'set either password or passwordEnv, not both',
    path: ['passwordEnv'],
  });
export type PostgresConnection = z.infer<typeof postgresConnectionSchema>;

/** An SSH host: the gateway logs in with a key it holds and checks the host's key against `hostKey`. */
export const sshConnectionSchema = z
  .strictObject({
    kind: z.literal('ssh'),
    host,
    port: port.default(22),
    user: z.string().min(1),
    /** A private key file (OpenSSH or PEM), relative to the config file. */
    privateKeyFile: z.string().min(1).optional(),
    /** The name of an environment variable holding the private key (PEM or OpenSSH text). */
    privateKeyEnv: z.string().min(1).optional(),
    /** The host's public key, pinned: "ssh-ed25519 AAAA…" as in known_hosts or the .pub file. */
    hostKey: z.string().regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|rsa-sha2-(256|512)) [A-Za-z0-9+/=]+/, 'the host key as "ssh-ed25519 AAAA…" (ssh-keyscan or the host\'s .pub file)'),
  })
  .refine((c) => (c.privateKeyFile === undefined) !== (c.privateKeyEnv === undefined), { message: 'set exactly one of privateKeyFile and privateKeyEnv', path: ['privateKeyFile'] });
export type SshConnection = z.infer<typeof sshConnectionSchema>;

/**
 * A Kubernetes API server: the gateway calls it with a credential it holds, a service-account
 * token or a client certificate, never the client's.
 */
export const kubernetesConnectionSchema = z
  .strictObject({
    kind: z.literal('kubernetes'),
    /** The API server's URL, as in a kubeconfig's clusters[].cluster.server. */
    server: z.url({ protocol: /^https$/, error: 'the API server\'s https:// URL' }),
    /** PEM file of the CA that signed the API server's certificate; the system roots when unset. */
    caFile: z.string().min(1).optional(),
    /** A bearer token (a service account's): from an environment variable, or a file read on start. */
    tokenEnv: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** Or a client certificate and its key (PEM files). */
    clientCertFile: z.string().min(1).optional(),
    clientKeyFile: z.string().min(1).optional(),
  })
  .refine((c) => [c.tokenEnv, c.tokenFile, c.clientCertFile].filter((v) => v !== undefined).length === 1, {
    message: 'set exactly one credential: tokenEnv, tokenFile, or clientCertFile with clientKeyFile',
    path: ['tokenEnv'],
  })
  .refine((c) => (c.clientCertFile === undefined) === (c.clientKeyFile === undefined), { message: 'clientCertFile and clientKeyFile go together', path: ['clientKeyFile'] });
export type KubernetesConnection = z.infer<typeof kubernetesConnectionSchema>;
export type Connection = PostgresConnection | SshConnection | KubernetesConnection;

/** S3's bucket naming rules (general purpose buckets): 3 to 63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit. */
export const S3_BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** How S3 is reached when evidence.export.s3 is not configured (`warden export --s3` without it). */
export const S3_DEFAULTS = { region: 'us-east-1', forcePathStyle: false } as const;

/** Scheduled evidence export (functions/lib/evidence/scheduled-export.ts) and where `warden export --s3` writes. */
export const evidenceExportSchema = z
  .strictObject({
    /** Export a bundle this often, from where the last one ended; 0: off. EventBridge runs it in AWS, `warden up` locally. */
    intervalMinutes: z
      .number()
      .int()
      .min(0)
      .max(10_080, 'at most 10080 (a week)')
      .refine((minutes) => minutes === 0 || minutes >= 5, 'use 0 (off) or at least 5 minutes')
      .default(0),
    /** Scheduled bundles go to this bucket; unset, to STATE_DIR/evidence/bundles. */
    s3: z
      .strictObject({
        bucket: z.string().regex(S3_BUCKET_NAME, 'an S3 bucket name: 3 to 63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit'),
        /** Keys are PREFIX + FROM--TO.tar.gz. */
        prefix: z
          .string()
          .refine((prefix) => prefix === '' || (prefix.endsWith('/') && !prefix.startsWith('/')), 'end the prefix with "/" and do not start it with "/" (or leave it empty)')
          // As `warden export --s3` refuses them: an S3-compatible store or a proxy may resolve "..", moving bundles out of the prefix.
          .refine((prefix) => !prefix.slice(0, -1).split('/').some((segment) => segment === '.' || segment === '..' || (prefix !== '' && segment === '')), 'no empty, "." or ".." segments in the prefix')
          .default('warden/evidence/'),
        region: z.string().min(1).default(S3_DEFAULTS.region),
        /** An S3-compatible endpoint (s3rver, MinIO); unset: AWS. */
        endpoint: z.url().optional(),
        /** http://endpoint/bucket/key instead of http://bucket.endpoint/key; most S3-compatible stores need it. */
        forcePathStyle: z.boolean().default(S3_DEFAULTS.forcePathStyle),
      })
      .optional(),
    /** Object Lock (COMPLIANCE) keeps each bundle in S3 this long: nobody, root included, can delete it sooner. */
    retentionDays: z.number().int().min(1).max(36_500).default(365),
  })
  .prefault({});
export type EvidenceExportConfig = z.infer<typeof evidenceExportSchema>;

export const wardenConfigSchema = z.strictObject({
  /** Keys and embedded store data, relative to the config file. */
  stateDir: z.string().min(1).default('.warden'),
  controlPlane: z.strictObject({ listen: listen(8787) }).prefault({}),
  tokens: z
    .strictObject({
      issuer: z.string().min(1).default('warden'),
      /** Warden tokens live at most 15 minutes (DESIGN.md, invariant 5). */
      ttlSeconds: z.number().int().min(30).max(900).default(900),
      /** How many agents may act in one chain (user → agent → agent …); deeper exchanges are refused. */
      maxDepth: z.number().int().min(1).max(16).default(4),
    })
    .prefault({}),
  identity: z
    .strictObject({
      /** A local development issuer behind `warden token --as NAME`. Never enable it in production. */
      devIssuer: z.boolean().default(true),
      /** OpenID Connect issuers whose tokens (ID tokens, JWT access tokens) may be exchanged. */
      issuers: z
        .array(
          z.strictObject({
            /** Exactly the token's `iss`; keys come from its discovery document unless jwksUri is given. */
            issuer: z.url(),
            /** The `aud` Warden requires (the client id, or the resource indicator for access tokens). */
            audience: z.string().min(1),
            /**
             * The public client `warden login --device` signs people in with (RFC 8628). ID tokens
             * issued to it (aud = this client id) are accepted too.
             */
            deviceClientId: z.string().min(1).optional(),
            jwksUri: z.url().optional(),
            /** The claim that lists the identity's groups. */
            groupsClaim: z.string().min(1).default('groups'),
          }),
        )
        .default([]),
    })
    .prefault({}),
  store: z
    .strictObject({
      /** A DynamoDB-compatible endpoint (DynamoDB Local, AWS). Unset: embedded dynalite. */
      endpoint: z.url().optional(),
      region: z.string().default('us-east-1'),
      tablePrefix: z.string().regex(/^[A-Za-z0-9_.-]{3,100}$/, 'at least 3 characters of A-Z, a-z, 0-9, _ . -').default('warden'),
      /** Embedded dynalite only: keep the data in memory instead of the state directory. */
      memory: z.boolean().default(false),
    })
    .prefault({}),
  ledger: z
    .strictObject({
      /** The log's name in every checkpoint, and the name of its signing key. */
      origin: z.string().regex(/^[^\s+]+$/, 'no spaces and no "+"').default('warden.local/ledger'),
      /** How often a new checkpoint is signed when the tree has grown. */
      checkpointIntervalSeconds: z.number().min(1).max(3600).default(10),
      /** How long the integrator waits after a batch before integrating, to take several at once. */
      integrationDelayMs: z.number().int().min(0).max(60_000).default(50),
    })
    .prefault({}),
  proxy: z
    .strictObject({
      postgres: z
        .strictObject({
          host: host.default('127.0.0.1'),
          port: port.default(15432),
          tls: z
            .strictObject({
              /** self-signed: made on first start in stateDir/tls; files: certFile and keyFile; off: refuse SSLRequest. */
              mode: z.enum(['self-signed', 'files', 'off']).default('self-signed'),
              certFile: z.string().min(1).optional(),
              keyFile: z.string().min(1).optional(),
              /** Refuse clients that do not ask for TLS. */
              require: z.boolean().default(false),
            })
            .refine((t) => t.mode !== 'files' || (t.certFile !== undefined && t.keyFile !== undefined), { message: 'mode files needs certFile and keyFile', path: ['certFile'] })
            .prefault({}),
          /** A client not logged in this long after connecting gets a FATAL error and is disconnected (PostgreSQL's authentication_timeout). */
          loginTimeoutSeconds: loginTimeoutSeconds.default(60),
        })
        .prefault({}),
      ssh: z
        .strictObject({
          host: host.default('127.0.0.1'),
          port: port.default(2222),
          /** A client not authenticated this long after connecting is disconnected (OpenSSH's LoginGraceTime). */
          loginTimeoutSeconds: loginTimeoutSeconds.default(60),
        })
        .prefault({}),
      /** The Kubernetes API gateway (HTTPS, on the PostgreSQL proxy's certificate settings); kubeconfig servers are https://host:port/clusters/CONNECTION. */
      kubernetes: z
        .strictObject({
          host: host.default('127.0.0.1'),
          port: port.default(8443),
        })
        .prefault({}),
    })
    .prefault({}),
  /** auto: serve the embedded demo database when no connection is configured. */
  demo: z.enum(['auto', 'always', 'never']).default('auto'),
  connections: z.record(connectionName, z.discriminatedUnion('kind', [postgresConnectionSchema, sshConnectionSchema, kubernetesConnectionSchema])).default({}),
  masking: z
    .strictObject({
      /** Columns masked whole, whatever they hold: resolved from each result's table OID and column number. */
      columns: z
        .array(
          z.strictObject({
            id: z.string().min(1),
            schema: z.string().min(1).optional(),
            table: z.string().min(1),
            column: z.string().min(1),
          }),
        )
        .default([]),
      /** Content detectors applied to every value; all of them unless listed. */
      detectors: z.array(z.enum(contentDetectorIds)).optional(),
    })
    .prefault({}),
  approvals: z
    .strictObject({
      /** How long a held command or a grant request waits for its approvers before it is denied. */
      ttlSeconds: z.number().int().min(30).max(86_400).default(900),
      /** Who may approve when a policy's @approval has no @approvers annotation. */
      defaultApprovers: z.array(z.string().min(1)).min(1).default(['approvers']),
      /** The address reviewers can reach (links in notices and Slack); default: the local control plane. */
      publicUrl: z.url().optional(),
      slack: z
        .strictObject({
          /** Environment variable holding the incoming-webhook URL (a secret: it is never logged). */
          webhookUrlEnv: z.string().min(1),
          /** Environment variable holding the app's signing secret, for POST /v1/slack/interactions. */
          signingSecretEnv: z.string().min(1),
          /** Only response URLs under this prefix are ever called back. */
          responseUrlPrefix: z.url().default('https://hooks.slack.com/'),
          /** Slack user id → the identity that approves when that user clicks. */
          users: z.record(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U024BE7LH'), z.strictObject({ sub: z.string().min(1), groups: z.array(z.string().min(1)).default([]) })).default({}),
        })
        .optional(),
    })
    .prefault({}),
  grants: z
    .strictObject({
      /** The longest a just-in-time grant may last. */
      maxSeconds: z.number().int().min(60).max(7 * 86_400).default(8 * 3600),
    })
    .prefault({}),
  console: z
    .strictObject({
      /** Groups that may read sessions, recordings and the ledger's status in the console (GET /v1/sessions…, /v1/ledger/status). */
      readers: z.array(z.string().min(1)).default(['auditors']),
      /** Groups the console offers approving to; each approval still checks its own approver groups. */
      approvers: z.array(z.string().min(1)).default(['approvers']),
      /**
       * Sign-in to the console with OpenID Connect (authorization code + PKCE, as a public client).
       * The issuer must be one of identity.issuers, and clientId that issuer's `audience` or
       * `deviceClientId`, so the ID token it issues is one POST /v1/token accepts.
       */
      oidc: z
        .strictObject({
          issuer: z.url(),
          clientId: z.string().min(1),
          scope: z.string().min(1).default('openid groups'),
        })
        .optional(),
    })
    .prefault({}),
  evidence: z.strictObject({ export: evidenceExportSchema }).prefault({}),
  policy: z
    .strictObject({
      /** A Cedar policy file, relative to this config; unset: the shipped default set (core/policy/default.cedar). */
      file: z.string().min(1).optional(),
    })
    .prefault({}),
});
export type WardenConfig = z.infer<typeof wardenConfigSchema>;

/** Formats a validation failure as one line per field: the path, what is wrong, and the fix. */
export function describeConfigIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    return `  ${path}: ${issue.message}`;
  });
  return `${source} is not a valid Warden configuration:\n${lines.join('\n')}\nFix the fields above; warden.example.yaml documents every field.`;
}

/** The configuration, or something it points to, is wrong; the message names the field and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `text` is YAML (or JSON); undefined means no file, so every default applies. `source` names it in errors. */
export function parseConfigText(text: string | undefined, source: string): WardenConfig {
  let raw: unknown = {};
  if (text !== undefined) {
    try {
      raw = parseYaml(text) ?? {};
    } catch (error) {
      if (error instanceof YAMLParseError) {
        const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
        throw new ConfigError(`${source} is not valid YAML${where}: ${error.message.split('\n')[0]}`);
      }
      throw error;
    }
  }
  const parsed = wardenConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeConfigIssues(parsed.error, text === undefined ? 'the default configuration' : source));
  return parsed.data;
}
