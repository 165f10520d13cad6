/**
 * The files a Lambda bundle reads reach it: functions/lib/policy-files.ts bundled as
 * infra/constructs/control-plane-function.ts bundles a handler, with its afterBundling commands,
 * into a directory outside the repository, then loaded from there; and a NodejsFunction bundled
 * by CDK with those options, whose asset hash follows the configFile and its policy file.
 */
import assert from 'node:assert/strict';
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build } from 'esbuild';
import { BUNDLED_CONFIG_FILE, BUNDLED_CONSOLE_DIR, BUNDLED_POLICY_FILE, bundling } from '../../infra/constructs/control-plane-function.js';
import { readConfigFile } from '../../infra/settings.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

const CUSTOM_POLICY = '@id("custom-only-select")\npermit (principal, action == Warden::Action::"sql:select", resource);\n';
const CONFIG_YAML = 'policy:\n  file: policies/custom.cedar\nledger:\n  origin: bundle.example/ledger\n';

describe('files in a Lambda bundle', () => {
  let temp: string;
  let out: string;
  let configFile: string;

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), 'warden-bundle-'));
    out = join(temp, 'bundle');
    configFile = join(temp, 'config', 'warden.yaml');
    await mkdir(join(temp, 'config', 'policies'), { recursive: true });
    await writeFile(configFile, CONFIG_YAML);
    await writeFile(join(temp, 'config', 'policies', 'custom.cedar'), CUSTOM_POLICY);
    const options = bundling(readConfigFile(configFile));
    await build({
      entryPoints: [join(repo, 'functions/lib/policy-files.ts')],
      outfile: join(out, 'index.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: options.target,
      mainFields: options.mainFields,
      external: options.externalModules,
      banner: { js: options.banner! },
      logLevel: 'silent',
    });
    for (const command of options.commandHooks!.afterBundling(repo, out)) execSync(command);
  });

  after(() => rm(temp, { recursive: true, force: true }));

  it('loads the default policy set and the schema from beside the bundle', async () => {
    const bundled = (await import(pathToFileURL(join(out, 'index.mjs')).href)) as typeof import('../../functions/lib/policy-files.js');
    assert.equal(bundled.SCHEMA_FILE, join(out, 'core/policy/warden.cedarschema'));
    assert.equal(bundled.DEFAULT_POLICY_FILE, join(out, 'core/policy/default.cedar'));
    assert.ok((await bundled.loadPolicyFile(undefined)).policyIds.includes('no-schema-changes'));
  });

  it("ships the configFile and its policy.file beside the bundle, where the bundled code loads the policy", async () => {
    assert.equal(await readFile(join(out, BUNDLED_CONFIG_FILE), 'utf8'), CONFIG_YAML);
    assert.equal(await readFile(join(out, BUNDLED_POLICY_FILE), 'utf8'), CUSTOM_POLICY);
    const bundled = (await import(pathToFileURL(join(out, 'index.mjs')).href)) as typeof import('../../functions/lib/policy-files.js');
    assert.deepEqual((await bundled.loadPolicyFile(join(out, BUNDLED_POLICY_FILE))).policyIds, ['custom-only-select']);
  });

  it('copies neither without a configFile', () => {
    const commands = bundling(undefined).commandHooks!.afterBundling(repo, out).join('\n');
    assert.doesNotMatch(commands, new RegExp(`${BUNDLED_CONFIG_FILE}|${BUNDLED_POLICY_FILE}`));
    assert.equal(bundling(undefined).environment, undefined);
  });

  it('prebuilds the web console into the console function\'s bundle, which serves those files without esbuild', async () => {
    const consoleOut = join(temp, 'console-bundle');
    const commands = bundling(undefined, { console: true }).commandHooks!.afterBundling(repo, consoleOut);
    assert.ok(!bundling(undefined).commandHooks!.afterBundling(repo, consoleOut).some((command) => command.includes('write-assets')), 'only the console function carries the console');
    for (const command of commands) execSync(command);
    const dir = join(consoleOut, BUNDLED_CONSOLE_DIR);
    assert.match(await readFile(join(dir, 'index.html'), 'utf8'), /<script/);
    assert.ok((await readFile(join(dir, 'main.js'))).length > 10_000, 'main.js holds the bundled app and player');
    // A mark only the prebuilt file has: what is served comes from the bundle, not a fresh build.
    await writeFile(join(dir, 'main.css'), '/* prebuilt */');
    const served = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const { consoleAssets } = await import('./web/build.ts'); const { assets } = await consoleAssets(); process.stdout.write(assets.get('main.css').body);"],
      { cwd: repo, env: { ...process.env, WARDEN_CONSOLE_DIR: BUNDLED_CONSOLE_DIR, LAMBDA_TASK_ROOT: consoleOut }, encoding: 'utf8' },
    );
    assert.equal(served, '/* prebuilt */');
  });

  it("changes the function's asset hash with the config or the policy file, as CDK bundles it", async () => {
    /**
     * Bundles a NodejsFunction with these options (AssetHashType.OUTPUT, as control-plane-function.ts
     * leaves it) and returns its asset hash and directory. One outdir, as a process that synthesizes
     * again would use: CDK then reuses a bundle made with the same options.
     */
    const outdir = join(temp, 'cdk.out');
    const synthesize = () => {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Bundled');
      new NodejsFunction(stack, 'Function', {
        entry: join(repo, 'functions/lib/policy-files.ts'),
        projectRoot: repo,
        depsLockFilePath: join(repo, 'package-lock.json'),
        runtime: Runtime.NODEJS_22_X,
        bundling: bundling(readConfigFile(configFile)),
      });
      const template = app.synth().getStackByName('Bundled').template as { Resources: Record<string, { Type: string; Properties: { Code: { S3Key: string } } }> };
      const fn = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::Lambda::Function')!;
      const hash = fn.Properties.Code.S3Key.replace(/\.zip$/, '');
      return { hash, asset: join(outdir, `asset.${hash}`) };
    };
    const first = synthesize();
    assert.equal(readFileSync(join(first.asset, BUNDLED_CONFIG_FILE), 'utf8'), CONFIG_YAML, 'the deployed asset holds the config');
    assert.ok(existsSync(join(first.asset, BUNDLED_POLICY_FILE)), 'the deployed asset holds the policy file');

    await writeFile(configFile, `${CONFIG_YAML}# one more connection, say\n`);
    const configChanged = synthesize();
    assert.notEqual(configChanged.hash, first.hash, 'a changed config redeploys the function');
    assert.match(readFileSync(join(configChanged.asset, BUNDLED_CONFIG_FILE), 'utf8'), /one more connection/);

    await writeFile(join(temp, 'config', 'policies', 'custom.cedar'), `// reviewed\n${CUSTOM_POLICY}`);
    const policyChanged = synthesize();
    assert.notEqual(policyChanged.hash, configChanged.hash, 'a changed policy file redeploys the function');
    assert.match(readFileSync(join(policyChanged.asset, BUNDLED_POLICY_FILE), 'utf8'), /reviewed/);
  });
});
