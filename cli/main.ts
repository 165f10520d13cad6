#!/usr/bin/env node
/**
 * The `warden` command. Exit codes: 0 success, 1 a check or request failed, 2 usage or
 * configuration error, 3 a Warden service or the store is unreachable.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError } from './cli-support.js';
import { ConfigError, loadConfig } from './config-file.js';
import { requestToken } from './token.js';
import { up } from './up.js';
import { verifyLedger } from './verify.js';

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
    const running = await up(loaded, { demo: options.demo ?? false, memory: options.memory ?? false, progress: (line) => console.error(line) });
    const { host, port } = running.postgres;
    const example = running.connections.includes('demo') ? 'demo' : (running.connections[0] ?? 'CONNECTION');
    const configFlag = loaded.path ? ` --config ${loaded.path}` : '';
    console.log(`warden ready: control plane ${running.controlPlaneUrl}, PostgreSQL proxy ${host}:${port}`);
    console.log(`connections: ${running.connections.join(', ') || '(none)'}`);
    console.log('connect with:');
    console.log(`  PGPASSWORD=$(npx warden${configFlag} token --as dev-user) psql -h ${host} -p ${port} -U dev-user ${example}`);
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
  .option('--json', 'print the whole token response as JSON')
  .action(async (options: { as: string; groups: string; audience?: string[]; json?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const groups = options.groups.split(',').map((g) => g.trim()).filter(Boolean);
    const response = await requestToken(loaded, { as: options.as, groups, audience: options.audience ?? [] });
    console.log(options.json ? JSON.stringify(response, null, 2) : response.access_token);
  });

program
  .command('verify')
  .description("check every session's hash chain in the live store")
  .option('--json', 'print the report as JSON')
  .addOption(new Option('--quiet', 'print nothing; use the exit code'))
  .action(async (options: { json?: boolean; quiet?: boolean }) => {
    const loaded = await loadConfig(program.opts<{ config?: string }>().config);
    const showProgress = process.stderr.isTTY && !options.quiet;
    const report = await verifyLedger(loaded, (n) => showProgress && process.stderr.write(`\rread ${n} entries…`));
    if (showProgress) process.stderr.write('\r');
    if (options.json) console.log(JSON.stringify(report, null, 2));
    else if (!options.quiet) {
      if (report.ok) {
        console.log(`ledger verified: ${report.entries} entries in ${report.sessions} sessions; every hash chain is intact`);
      } else {
        const [first] = report.problems;
        console.log(`ledger verification FAILED: entry ${first!.entry}: ${first!.kind}: ${first!.detail}`);
        if (report.problems.length > 1) console.log(`${report.problems.length} sessions have a broken chain (run with --json for all)`);
      }
    }
    process.exitCode = report.ok ? 0 : 1;
  });

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
  if (error instanceof ConfigError) {
    console.error(`warden: ${error.message}`);
    return 2;
  }
  console.error(`warden: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}
