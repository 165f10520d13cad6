/** `node --import tsx web/write-assets.ts DIR`: the console prebuilt into DIR, for a bundle that serves it without esbuild (WARDEN_CONSOLE_DIR). */
import { writeConsoleAssets } from './build.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx web/write-assets.ts DIR');
  process.exit(2);
}
await writeConsoleAssets(dir);
