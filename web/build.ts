/**
 * Builds the console (web/main.ts and the CSS it imports, asciinema-player's included) with
 * esbuild into memory, once per process, on the first request that needs it. The control plane
 * serves the result (functions/console.ts); nothing is written to disk.
 *
 * Where esbuild and the sources are not at hand (a bundled Lambda), `writeConsoleAssets` builds
 * the files ahead of time and WARDEN_CONSOLE_DIR names the folder they were written to.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleAsset {
  readonly contentType: string;
  readonly body: string;
  /** A strong ETag: the SHA-256 of the body. */
  readonly etag: string;
}

export interface ConsoleAssets {
  /** index.html with `__BASE__` left for the server to fill in. */
  readonly indexHtml: string;
  /** By name under /console/assets/: main.js, main.css. */
  readonly assets: ReadonlyMap<string, ConsoleAsset>;
}

const webDir = fileURLToPath(new URL('.', import.meta.url));
const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

let built: Promise<ConsoleAssets> | undefined;

/** The console's files; the first call builds them, later calls share that build (a failed build is retried). */
export function consoleAssets(): Promise<ConsoleAssets> {
  if (!built) {
    const prebuilt = process.env.WARDEN_CONSOLE_DIR;
    // Relative to the Lambda bundle (LAMBDA_TASK_ROOT) when there is one.
    built = prebuilt ? readConsoleAssets(resolve(process.env.LAMBDA_TASK_ROOT ?? '.', prebuilt)) : buildConsole();
    built.catch(() => (built = undefined));
  }
  return built;
}

function asset(name: string, contents: Uint8Array): ConsoleAsset | undefined {
  const contentType = contentTypes[name.slice(name.lastIndexOf('.'))];
  if (!contentType) return undefined;
  return { contentType, body: new TextDecoder().decode(contents), etag: `"${createHash('sha256').update(contents).digest('base64url')}"` };
}

export async function buildConsole(): Promise<ConsoleAssets> {
  // Imported here, so a process that serves prebuilt files never loads esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { main: fileURLToPath(new URL('main.ts', import.meta.url)) },
    absWorkingDir: webDir,
    bundle: true,
    write: false,
    outdir: 'out',
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    // The console must never pull in Node built-ins: fail the build instead.
    external: [],
  });
  const assets = new Map<string, ConsoleAsset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const built = asset(name, file.contents);
    if (built) assets.set(name, built);
  }
  if (!assets.has('main.js') || !assets.has('main.css')) throw new Error(`the console build made ${[...assets.keys()].join(', ')}, not main.js and main.css`);
  const indexHtml = await readFile(new URL('index.html', import.meta.url), 'utf8');
  return { indexHtml, assets };
}

/** Writes index.html, main.js and main.css to `dir`, for WARDEN_CONSOLE_DIR. */
export async function writeConsoleAssets(dir: string): Promise<void> {
  const { indexHtml, assets } = await buildConsole();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.html'), indexHtml);
  for (const [name, file] of assets) await writeFile(join(dir, name), file.body);
}

async function readConsoleAssets(dir: string): Promise<ConsoleAssets> {
  const assets = new Map<string, ConsoleAsset>();
  for (const name of ['main.js', 'main.css']) assets.set(name, asset(name, await readFile(join(dir, name)))!);
  return { indexHtml: await readFile(join(dir, 'index.html'), 'utf8'), assets };
}
