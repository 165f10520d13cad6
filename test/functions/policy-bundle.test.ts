/**
 * The Cedar files reach a Lambda bundle: functions/lib/policy-files.ts bundled as
 * infra/constructs/control-plane-function.ts bundles a handler, with its afterBundling commands,
 * into a directory outside the repository, then loaded from there.
 */
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundling } from '../../infra/constructs/control-plane-function.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

describe('policy files in a Lambda bundle', () => {
  let out: string;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'warden-bundle-'));
    await build({
      entryPoints: [join(repo, 'functions/lib/policy-files.ts')],
      outfile: join(out, 'index.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: bundling.target,
      mainFields: bundling.mainFields,
      external: bundling.externalModules,
      banner: { js: bundling.banner! },
      logLevel: 'silent',
    });
    for (const command of bundling.commandHooks!.afterBundling(repo, out)) execSync(command);
  });

  after(() => rm(out, { recursive: true, force: true }));

  it('loads the default policy set and the schema from beside the bundle', async () => {
    const bundled = (await import(pathToFileURL(join(out, 'index.mjs')).href)) as typeof import('../../functions/lib/policy-files.js');
    assert.equal(bundled.SCHEMA_FILE, join(out, 'core/policy/warden.cedarschema'));
    assert.equal(bundled.DEFAULT_POLICY_FILE, join(out, 'core/policy/default.cedar'));
    assert.ok((await bundled.loadPolicyFile(undefined)).policyIds.includes('no-schema-changes'));
  });
});
