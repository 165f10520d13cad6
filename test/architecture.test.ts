/**
 * The layout's rules (DESIGN.md): core/ imports nothing from the other folders, and
 * functions/ and proxy-fleet/ meet only through core/'s API contract.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const repo = resolve(new URL('..', import.meta.url).pathname);

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(join(repo, folder), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
}

/** Top-level folders this file's relative imports land in. */
async function importedFolders(file: string): Promise<Set<string>> {
  const text = await readFile(file, 'utf8');
  const folders = new Set<string>();
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = relative(repo, resolve(dirname(file), match[1]!));
    folders.add(target.split('/')[0]!);
  }
  return folders;
}

const rules: [folder: string, forbidden: string[]][] = [
  ['core', ['functions', 'proxy-fleet', 'cli', 'infra', 'web', 'test', 'bench']],
  ['functions', ['proxy-fleet', 'cli', 'test', 'bench']],
  ['proxy-fleet', ['functions', 'cli', 'test', 'bench']],
];

describe('architecture', () => {
  for (const [folder, forbidden] of rules) {
    it(`${folder}/ imports none of ${forbidden.join(', ')}`, async () => {
      const files = await sourceFiles(folder);
      assert.ok(files.length > 0);
      for (const file of files) {
        const bad = [...(await importedFolders(file))].filter((f) => forbidden.includes(f));
        assert.deepEqual(bad, [], `${relative(repo, file)} imports ${bad.join(', ')}`);
      }
    });
  }

  it('core/ does no I/O', async () => {
    for (const file of await sourceFiles('core')) {
      const text = await readFile(file, 'utf8');
      assert.doesNotMatch(text, /from ['"]node:(fs|net|http|https|child_process|dgram|tls)/, relative(repo, file));
    }
  });
});
