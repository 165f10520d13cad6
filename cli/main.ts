#!/usr/bin/env node
/**
 * The `warden` command. Exit codes: 0 success, 1 a check or request failed, 2 usage or
 * configuration error, 3 a Warden service or the store is unreachable.
 */
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-support.js';
import { ConfigError, loadConfig } from './config-file.js';
import { loginWithClientCredentials, loginWithDeviceCode } from './login.js';
import { describeToken, exchangeForAgent, requestToken } from './token.js';
import { tokenFrom } from './api-client.js';
import { decideApproval, describeApproval, listApprovals } from './approvals.js';
import { describeGrant, listGrants, parseDuration, requestGrant, revokeGrant } from './grants.js';
import { kubeconfig, usage, writeKubeconfig } from './kubeconfig.js';
import { kubeCredential, type CredentialSource } from './kube-credential.js';
import type { BundleReport } from '../core/evidence/verify-bundle.js';
import type { LogReport } from '../core/ledger/log-verify.js';
import { LedgerError } from '../core/ledger/errors.js';

// Commands that start services or read the store load their modules when they run: kubectl starts
// `warden kube-credential` for every command, and it should not pay for the whole control plane.
// The SDK warns on every start that it will soon need Node 22; Lambda already runs 22. Other warnings still show.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command('warden')
  .description('Warden: an access gateway that decides, masks and records every command people and AI agents run.')
  .option('-c, --config <file>', 'configuration file (default: ./warden.yaml or $WARDEN_CONFIG)')
  .exitOverride()
  .showHelpAfterError();

program
  .command('up')
  .description('start the control plane, the store and the PostgreSQL proxy in this process')
  .option('--demo', 'also serve the embedded demo database (PGlite) as connection "demo"')
  .option('--memory', 'keep the embedded store in memory (nothing survives a restart)')
  .action(async (options: { demo?: boolean; memory?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const running = await (await import('./up.js')).up(loaded, { demo: options.demo ?? false, memory: options.memory ?? false, progress: (line) => console.error(line) });
    const { host, port } = running.postgres;
    const example = running.postgresConnections.includes('demo') ? 'demo' : (running.postgresConnections[0] ?? 'CONNECTION');
    const configFlag = loaded.path ? ` --config ${loaded.path}` : '';
    console.log(`warden ready: control plane ${running.controlPlaneUrl}, PostgreSQL proxy ${host}:${port}${running.ssh ? `, SSH gateway ${running.ssh.host}:${running.ssh.port}` : ''}${running.kubernetes ? `, Kubernetes API gateway https://${running.kubernetes.host}:${running.kubernetes.port}` : ''}`);
    console.log(`connections: ${running.connections.join(', ') || '(none)'}`);
    console.log(`web console: ${running.controlPlaneUrl}/console (sign in with a token from: npx warden${configFlag} token --as NAME --groups auditors)`);
    console.log(`log public key: ${running.logPublicKey}; checkpoints in ${running.evidenceDir}/checkpoints`);
    if (running.certificateFile) console.log(`TLS certificate: ${running.certificateFile} (clients that verify: sslmode=verify-full sslrootcert=<that file>)`);
    console.log('connect with:');
    console.log(`  PGPASSWORD=$(npx warden${configFlag} token --as dev-user) psql -h ${host} -p ${port} -U dev-user ${example}`);
    if (running.ssh) {
      console.log(`SSH gateway host key (for known_hosts): [${running.ssh.host}]:${running.ssh.port} ${running.ssh.hostKey}`);
      console.log(`  ssh -p ${running.ssh.port} CONNECTION@${running.ssh.host}   (the password is a Warden token)`);
    }
    if (running.kubernetes) console.log(`  npx warden${configFlag} kubeconfig --connection CLUSTER --out kubeconfig && KUBECONFIG=kubeconfig kubectl get pods`);
    const shutdown = async () => {
      await running.stop();
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });

program
  .command('token')
  .description('mint a development identity and exchange it for a Warden token (printed on stdout)')
  .requiredOption('--as <name>', 'the identity (subject) to act as')
  .option('--groups <list>', 'comma-separated groups', '')
  .option('--audience <connection...>', 'connections the token may open (default: all)')
  .option('--why <text>', 'why you connect (a ticket, a task): carried in the token and shown to approvers')
  .option('--json', 'print the whole token response as JSON')
  .action(async (options: { as: string; groups: string; audience?: string[]; why?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const groups = options.groups.split(',').map((g) => g.trim()).filter(Boolean);
    const response = await requestToken(loaded, { as: options.as, groups, audience: options.audience ?? [], ...(options.why ? { why: options.why } : {}) });
    console.log(options.json ? JSON.stringify(response, null, 2) : response.access_token);
  });

program
  .command('login')
  .description('sign in at the identity provider and print a Warden token: a person by device code, a workload by client credentials')
  .option('--device', 'sign in as a person: open the printed link in any browser and confirm the code')
  .option('--client-id <id>', 'the client: the service account for client credentials; for --device, default the issuer\'s deviceClientId')
  .option('--client-secret-env <name>', 'client credentials: the environment variable that holds the client secret')
  .option('--scope <scopes>', '--device: the scopes to ask for', 'openid groups')
  .option('--issuer <url>', 'one of identity.issuers (default: the first)')
  .option('--audience <connection...>', 'connections the token may open (default: all)')
  .option('--json', 'print the whole token response as JSON')
  .action(async (options: { device?: boolean; clientId?: string; clientSecretEnv?: string; scope: string; issuer?: string; audience?: string[]; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const target = { audience: options.audience ?? [], ...(options.issuer ? { issuer: options.issuer } : {}) };
    let response;
    if (options.device) {
      response = await loginWithDeviceCode(loaded, { ...target, scope: options.scope, prompt: (message) => console.error(message), ...(options.clientId ? { clientId: options.clientId } : {}) });
    } else {
      if (!options.clientId || !options.clientSecretEnv) throw new CliError('choose a way to sign in: --device (a person), or --client-id with --client-secret-env (a workload)', 2);
      const clientSecret = process.env[options.clientSecretEnv];
      if (!clientSecret) throw new CliError(`the environment variable ${options.clientSecretEnv} is not set; export the client secret in it`, 2);
      response = await loginWithClientCredentials(loaded, { ...target, clientId: options.clientId, clientSecret });
    }
    console.log(options.json ? JSON.stringify(response, null, 2) : response.access_token);
  });

program
  .command('exchange')
  .description('for agents starting agents: exchange a Warden token for a narrower child token acted on by AGENT')
  .requiredOption('--token <token>', 'the parent Warden token (or - to read it from stdin)')
  .requiredOption('--as <agent>', 'the agent that will act with the child token')
  .option('--audience <connection...>', 'connections the child may open (default: the parent\'s)')
  .option('--scope <scope>', "the child's scope (default: the parent's)")
  .option('--why <text>', "what the agent is for, shown to approvers (default: the parent's)")
  .option('--json', 'print the whole token response as JSON')
  .action(async (options: { token: string; as: string; audience?: string[]; scope?: string; why?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const token = options.token === '-' ? (await readStdin()).trim() : options.token;
    const response = await exchangeForAgent(loaded, { token, as: options.as, audience: options.audience ?? [], ...(options.scope ? { scope: options.scope } : {}), ...(options.why ? { why: options.why } : {}) });
    console.log(options.json ? JSON.stringify(response, null, 2) : response.access_token);
  });

program
  .command('whoami')
  .description('show who a Warden token speaks for: the root identity, the agents acting, the chain, audience and expiry')
  .requiredOption('--token <token>', 'a Warden token (or - to read it from stdin)')
  .option('--json', 'print the claims as JSON')
  .action(async (options: { token: string; json?: boolean }) => {
    const token = options.token === '-' ? (await readStdin()).trim() : options.token;
    const claims = describeToken(token);
    if (options.json) console.log(JSON.stringify(claims, null, 2));
    else {
      console.log(`${claims.sub}${claims.actors.length > 0 ? ` ← ${claims.actors.join(' ← ')}` : ''} (chain ${claims.chain})`);
      console.log(`groups: ${claims.groups.join(', ') || '(none)'}; may open: ${claims.aud.join(', ')}; scope: ${claims.scope}; expires ${claims.expiresAt}`);
    }
  });

program
  .command('revoke')
  .description('revoke a token, or a whole identity chain: new sessions stop at once, running ones within seconds')
  .option('--token <token>', 'the token to revoke (or - to read it from stdin)')
  .option('--chain <id>', 'the chain id to revoke, with every token in it (see warden whoami)')
  .requiredOption('--reason <text>', 'why; recorded in the ledger and shown to the client')
  .option('--json', 'print the result as JSON')
  .action(async (options: { token?: string; chain?: string; reason: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const token = options.token === '-' ? (await readStdin()).trim() : options.token;
    const result = await (await import('./revoke.js')).revoke(loaded, { ...(token ? { token } : {}), ...(options.chain ? { chain: options.chain } : {}), reason: options.reason });
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else console.log(result.alreadyRevoked ? `${result.key} was already revoked` : `revoked ${result.key} (ledger entry ${result.entry})`);
  });

program
  .command('approvals')
  .description('list the pending approval requests you may decide, or made yourself')
  .option('--token <token>', 'your Warden token (default: $WARDEN_TOKEN)')
  .option('--json', 'print the requests as JSON')
  .action(async (options: { token?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const approvals = await listApprovals(loaded, tokenFrom(options.token));
    if (options.json) console.log(JSON.stringify(approvals, null, 2));
    else console.log(approvals.length === 0 ? 'no pending approval requests for you' : approvals.map(describeApproval).join('\n\n'));
  });

for (const decision of ['approve', 'deny'] as const) {
  program
    .command(decision)
    .description(decision === 'approve' ? 'approve a held command or a grant request (you must be in an approver group, and not in its chain)' : 'deny a held command or a grant request; the requester sees your reason')
    .argument('<id>', 'the approval request id (apr_…), as the notice or `warden approvals` shows it')
    .requiredOption('--reason <text>', 'why; recorded in the ledger with your identity')
    .option('--token <token>', 'your Warden token (default: $WARDEN_TOKEN)')
    .option('--json', 'print the outcome as JSON')
    .action(async (id: string, options: { reason: string; token?: string; json?: boolean }) => {
      const loaded = await loadConfig(program.opts<{ config?: string }>().config);
      const outcome = await decideApproval(loaded, tokenFrom(options.token), id, decision, options.reason);
      console.log(options.json ? JSON.stringify(outcome, null, 2) : `${outcome.id}: ${outcome.status} (${outcome.summary})`);
    });
}

const grant = program.command('grant').description('just-in-time grants: a role on a connection for a bounded time');

grant
  .command('request')
  .description('ask for a role on a connection; policy grants it, asks an approver, or refuses')
  .requiredOption('--connection <name>', 'the connection')
  .requiredOption('--role <role>', 'the role (Cedar sees your sessions on the connection in Warden::Role::"<role>")')
  .requiredOption('--for <duration>', 'how long, e.g. 30m, 2h, 1h30m')
  .requiredOption('--why <text>', 'the justification, shown to approvers and recorded')
  .option('--wait', 'wait for the approval when one is needed (exit 1 if denied)')
  .option('--token <token>', 'your Warden token (default: $WARDEN_TOKEN)')
  .option('--json', 'print the grant as JSON')
  .action(async (options: { connection: string; role: string; for: string; why: string; wait?: boolean; token?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const seconds = parseDuration(options.for);
    const result = await requestGrant(loaded, tokenFrom(options.token), {
      connection: options.connection,
      role: options.role,
      seconds,
      why: options.why,
      ...(options.wait ? { wait: (message: string) => console.error(message) } : {}),
    });
    console.log(options.json ? JSON.stringify(result, null, 2) : describeGrant(result));
    if (result.status === 'pending' && !options.wait) console.error(`an approver runs: warden approve ${result.approval?.id} --reason "…"`);
    if (result.status === 'denied' || result.status === 'expired' || result.status === 'revoked') process.exitCode = 1;
  });

grant
  .command('list')
  .description('your grants, newest first')
  .option('--token <token>', 'your Warden token (default: $WARDEN_TOKEN)')
  .option('--json', 'print the grants as JSON')
  .action(async (options: { token?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const grants = await listGrants(loaded, tokenFrom(options.token));
    if (options.json) console.log(JSON.stringify(grants, null, 2));
    else console.log(grants.length === 0 ? 'no grants' : grants.map(describeGrant).join('\n'));
  });

grant
  .command('revoke')
  .description('end a grant now (yours, or anyone\'s if you are an approver); sessions using it end within seconds')
  .argument('<id>', 'the grant id (grt_…)')
  .requiredOption('--reason <text>', 'why; recorded in the ledger')
  .option('--token <token>', 'your Warden token (default: $WARDEN_TOKEN)')
  .option('--json', 'print the grant as JSON')
  .action(async (id: string, options: { reason: string; token?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const result = await revokeGrant(loaded, tokenFrom(options.token), id, options.reason);
    console.log(options.json ? JSON.stringify(result, null, 2) : describeGrant(result));
  });

/** Where kubectl's plugin gets its Warden token: the same options for kubeconfig (which passes them on) and kube-credential. */
const withCredentialSource = (command: Command) =>
  command
    .option('--token-env <name>', 'read the Warden token from this environment variable (default: WARDEN_TOKEN)')
    .option('--client-id <id>', "sign in with client credentials as this client; with --device, the public client (default: the issuer's deviceClientId)")
    .option('--client-secret-env <name>', 'client credentials: the environment variable that holds the client secret')
    .option('--device', 'sign a person in by device code; the link and the code show on stderr, which kubectl passes through')
    .option('--issuer <url>', 'one of identity.issuers to sign in at (default: the first)');

withCredentialSource(
  program
    .command('kubeconfig')
    .description('write a kubeconfig for a Kubernetes connection behind the gateway; it holds no token: kubectl runs warden kube-credential for one')
    .requiredOption('--connection <name>', 'the connection (kind kubernetes)')
    .option('--out <file>', 'write it to this file (mode 0600, replaced if it exists) instead of stdout')
    .option('--server <url>', "the gateway's URL for the connection (default: https://HOST:PORT/clusters/CONNECTION of the running warden up)")
    .option('--certificate-authority <file>', "the PEM certificate kubectl trusts for the gateway (default: the running warden up's)")
    .option('--context <name>', 'the name of the context, cluster and user (default: the connection)'),
).action(async (options: { connection: string; out?: string; server?: string; certificateAuthority?: string; context?: string } & CredentialSource) => {
  const loaded = await loadConfig(program.opts<{ config?: string }>().config);
  const { connection, out, server, certificateAuthority, context, ...source } = options;
  const config = await kubeconfig(loaded, { connection, source, ...(server ? { server } : {}), ...(certificateAuthority ? { certificateAuthority } : {}), ...(context ? { context } : {}) });
  const written = out ? await writeKubeconfig(out, config.text) : undefined;
  if (!written) process.stdout.write(config.text);
  console.error(usage(written, config, source));
});

withCredentialSource(
  program
    .command('kube-credential')
    .description("kubectl's exec credential plugin: prints an ExecCredential with a Warden token and its expiry (warden kubeconfig sets it up); sign-ins are cached in $XDG_CACHE_HOME/warden/kube")
    .requiredOption('--connection <name>', 'the connection the token must open'),
).action(async (options: { connection: string } & CredentialSource) => {
  const loaded = await loadConfig(program.opts<{ config?: string }>().config);
  const { connection, ...source } = options;
  console.log(JSON.stringify(await kubeCredential(loaded, connection, source)));
});

program
  .command('verify')
  .description('verify the live log (hash chains, Merkle tree, signed checkpoints, batches), or, given BUNDLE, an exported evidence bundle offline')
  .argument('[bundle]', 'an evidence bundle from warden export (.tar.gz): checked with only the bundle and --key')
  .option('--checkpoint <file>', 'live log: also hold it to a checkpoint saved earlier (detects a truncated tail)')
  .option('--key <file>', "the log's public key, as the auditor got it (default: STATE_DIR/keys/log.vkey)")
  .option('--json', 'print the report as JSON')
  .option('--quiet', 'print nothing; use the exit code')
  .action(async (bundle: string | undefined, options: { checkpoint?: string; key?: string; json?: boolean; quiet?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    if (bundle) {
      const report = await (await import('./evidence.js')).verifyEvidence(loaded, bundle, options.key);
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else if (!options.quiet) printBundleReport(bundle, report);
      process.exitCode = report.ok ? 0 : 1;
      return;
    }
    const showProgress = process.stderr.isTTY && !options.quiet && !options.json;
    const report = await (await import('./verify.js')).verifyLiveLog(loaded, {
      ...(options.checkpoint ? { checkpointFile: options.checkpoint } : {}),
      ...(options.key ? { keyFile: options.key } : {}),
      progress: (n) => showProgress && process.stderr.write(`\rread ${n} entries…`),
    });
    if (showProgress) process.stderr.write('\r');
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else if (!options.quiet) printReport(report);
    process.exitCode = report.ok ? 0 : 1;
  });

program
  .command('export')
  .description('write an evidence bundle for a time window to a file or to S3: entries with inclusion proofs, checkpoint, approvals, grants, masking counts, recordings, an HTML report, and a signed manifest')
  .requiredOption('--from <time>', 'start of the window: ISO 8601, a date, or a duration ago (7d, 24h)')
  .option('--to <time>', 'end of the window (default: now)', 'now')
  .option('--out <file>', 'write the bundle to this file (.tar.gz)')
  .option('--s3 <url>', 'or put it in S3, as PREFIX/FROM--TO.tar.gz under Object Lock for evidence.export.retentionDays (s3://BUCKET/PREFIX; endpoint, region and path style from evidence.export.s3)')
  .option('--json', 'print the summary as JSON')
  .action(async (options: { from: string; to: string; out?: string; s3?: string; json?: boolean }) => {
    if ((options.out === undefined) === (options.s3 === undefined)) throw new CliError('give exactly one of --out FILE and --s3 s3://BUCKET/PREFIX', 2);
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const evidence = await import('./evidence.js');
    const now = new Date();
    const { bundle: _bytes, ...summary } = await evidence.exportEvidence(loaded, {
      from: evidence.parseInstant(options.from, now),
      to: evidence.parseInstant(options.to, now),
      destination: options.out !== undefined ? { file: options.out } : { s3: options.s3! },
      progress: (line) => !options.json && console.error(line),
    });
    if (options.json) console.log(JSON.stringify(summary, null, 2));
    else {
      const { count, firstIndex, lastIndex } = summary.entries;
      console.log(`wrote ${summary.location} (${summary.bytes} bytes, SHA-256 ${summary.sha256})${summary.retainUntil ? `, locked until ${summary.retainUntil}` : ''}`);
      console.log(`${count} entries${count > 0 ? ` (indexes ${firstIndex}..${lastIndex})` : ''}, proven against the checkpoint of size ${summary.treeSize}`);
      console.log(`log key ${summary.keyFingerprint}; check it with: warden verify ${summary.retainUntil ? 'BUNDLE.tar.gz' : summary.location} --key log.vkey`);
      if (!summary.verified) console.log('the bundle did NOT verify; see report.html inside it');
    }
    process.exitCode = summary.verified ? 0 : 1;
  });

program
  .command('proof')
  .description('print an inclusion proof for ENTRY against the latest checkpoint, and check it')
  .argument('<entry>', 'a batch id such as b12.3 (as the proxy reports it) or SESSION/SEQ')
  .option('--key <file>', "the log's public key (default: STATE_DIR/keys/log.vkey)")
  .option('--json', 'print the proof as JSON')
  .action(async (entry: string, options: { key?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const result = await (await import('./proof.js')).proveEntry(loaded, entry, options.key);
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`entry ${result.entry.id} = ${result.entry.session}/${result.entry.seq}, index ${result.entry.index} of ${result.treeSize}`);
      console.log(`leaf hash ${result.leafHash}`);
      console.log(`inclusion proof (${result.proof.length} hashes):`);
      for (const hash of result.proof) console.log(`  ${hash}`);
      console.log(result.verified ? 'verified against the signed checkpoint:' : 'NOT verified against the signed checkpoint:');
      console.log(result.checkpoint.trimEnd().replace(/^/gm, '  '));
    }
    process.exitCode = result.verified ? 0 : 1;
  });

program
  .command('checkpoint')
  .description('integrate every durable entry and sign a checkpoint now (also runs on an interval in warden up)')
  .option('--json', 'print the result as JSON')
  .action(async (options: { json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const { integrated, checkpoint } = await (await import('./checkpoint.js')).integrateAndCheckpoint(loaded);
    if (options.json) {
      console.log(JSON.stringify({ integrated, signed: checkpoint?.signed ?? false, size: checkpoint?.checkpoint.size ?? 0, note: checkpoint?.note ?? null }, null, 2));
    } else if (!checkpoint) {
      console.log('the log is empty: nothing to sign');
    } else {
      console.log(`integrated ${integrated.entries} entries from ${integrated.batches} batches; tree size ${checkpoint.checkpoint.size}`);
      console.log(checkpoint.signed ? 'signed a new checkpoint:' : 'the tree has not grown; the latest checkpoint is:');
      console.log(checkpoint.note.trimEnd());
    }
  });

const policy = program.command('policy').description('check and try the Cedar policy set');

policy
  .command('validate')
  .description('check the policy set against the Warden schema')
  .option('--file <file>', 'a policy file (default: policy.file from the config, or the shipped set)')
  .option('--json', 'print the result as JSON')
  .action(async (options: { file?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const { engine, file } = await (await import('./policy.js')).loadConfiguredPolicy(loaded, options.file);
    if (options.json) console.log(JSON.stringify({ valid: true, file, version: engine.version, policies: engine.policyIds }, null, 2));
    else console.log(`${file}: valid, ${engine.policyIds.length} policies, version ${engine.version}`);
  });

policy
  .command('test')
  .description('decide a SQL statement (or, with --ssh, a shell command) as the gateway would, and show the facts and the deciding policies')
  .argument('<command>', 'the SQL or shell command to decide')
  .requiredOption('--as <name>', 'the identity (subject)')
  .requiredOption('--connection <name>', 'the connection (or host, with --ssh)')
  .option('--groups <list>', 'comma-separated groups', '')
  .option('--acting <agents>', 'comma-separated agents acting for the identity, outermost first')
  .option('--ssh', 'decide a shell command for ssh exec')
  .option('--file <file>', 'a policy file (default: policy.file from the config, or the shipped set)')
  .option('--json', 'print the result as JSON')
  .action(async (command: string, options: { as: string; connection: string; groups: string; acting?: string; ssh?: boolean; file?: string; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const list = (text: string | undefined) => (text ?? '').split(',').map((item) => item.trim()).filter(Boolean);
    const result = await (await import('./policy.js')).testPolicy(
      loaded,
      { as: options.as, groups: list(options.groups), actors: list(options.acting), connection: options.connection, ssh: options.ssh ?? false, ...(options.file ? { file: options.file } : {}) },
      command,
    );
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`${result.outcome.toUpperCase()} (policy version ${result.policyVersion})`);
      for (const statement of result.statements) {
        console.log(`\n${statement.text}`);
        console.log(`  ${statement.decision.outcome}: ${statement.decision.reason}`);
        console.log(`  deciding policies: ${statement.decision.policies.join(', ') || '(none)'}`);
        console.log(`  facts: ${JSON.stringify(statement.facts)}`);
      }
    }
    // Exit codes: 0 allow, 1 deny, 4 approval.
    process.exitCode = result.outcome === 'allow' ? 0 : result.outcome === 'deny' ? 1 : 4;
  });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function printReport(report: LogReport): void {
  if (report.ok) {
    console.log(`ledger verified: ${report.entries} entries in ${report.sessions} sessions; tree size ${report.treeSize}, root ${report.root}`);
    for (const checkpoint of report.checkpoints) console.log(`  ${checkpoint.label}: size ${checkpoint.size}, signature and root verified`);
    if (report.pendingBatches > 0) console.log(`  ${report.pendingBatches} durable batches are not integrated yet (run: warden checkpoint)`);
    if (report.pendingEntries > 0) console.log(`  ${report.pendingEntries} entries are written by an integration step that has not committed; not checked until it does (run: warden checkpoint)`);
    return;
  }
  console.log(`ledger verification FAILED: ${report.problems.length} problem(s)`);
  for (const problem of report.problems.slice(0, 20)) console.log(`  ${problem.subject}: ${problem.kind}: ${problem.detail}`);
  if (report.problems.length > 20) console.log(`  … and ${report.problems.length - 20} more (run with --json for all)`);
}

function printBundleReport(bundle: string, report: BundleReport): void {
  console.log(`${bundle}: ${report.ok ? 'verified' : 'verification FAILED'} with key ${report.keyFingerprint}`);
  if (report.manifest) console.log(`  window ${report.manifest.from} → ${report.manifest.to}, ${report.manifest.entries.count} entries, tree size ${report.manifest.treeSize}`);
  for (const check of report.checks) console.log(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
}

try {
  await program.parseAsync();
} catch (error) {
  process.exitCode = exitCodeFor(error);
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof CliError) {
    console.error(`warden: ${error.message}`);
    return error.exitCode;
  }
  if (error instanceof LedgerError) {
    console.error(`warden: ${error.message}`);
    return 1;
  }
  if (error instanceof ConfigError) {
    console.error(`warden: ${error.message}`);
    return 2;
  }
  console.error(`warden: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}
