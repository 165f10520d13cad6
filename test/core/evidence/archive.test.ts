/** The bundle archive: what it packs comes back byte for byte; what a bundle never holds is refused. */
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { describe, it } from 'node:test';
import tar from 'tar-stream';
import { BUNDLE_DIRECTORY, BundleArchiveError, packBundle, unpackBundle } from '../../../core/evidence/archive.js';

async function archiveOf(entries: { name: string; type?: 'file' | 'symlink' | 'directory'; body?: string; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const gzipped = buffer(pack.pipe(createGzip()));
  for (const { name, type = 'file', body = '', linkname } of entries) {
    if (type === 'file') pack.entry({ name, type }, body);
    else pack.entry({ name, type, ...(linkname ? { linkname } : {}) }, "");
  }
  pack.finalize();
  return gzipped;
}

describe('evidence bundle archive', () => {
  it('packs and unpacks files byte for byte', async () => {
    const files = new Map([
      ['manifest.note', Buffer.from('signed\n')],
      ['recordings/s-1.cast', Buffer.from([0, 1, 2, 255])],
      ['entries.jsonl', Buffer.from('{"index":0}\n')],
    ]);
    const unpacked = await unpackBundle(await packBundle(files, new Date(0)));
    assert.deepEqual([...unpacked.keys()].sort(), [...files.keys()].sort());
    for (const [path, bytes] of files) assert.ok(unpacked.get(path)!.equals(bytes), path);
  });

  for (const [what, entries, message] of [
    ['a path that climbs out', [{ name: `${BUNDLE_DIRECTORY}/../../etc/passwd`, body: 'x' }], /not a plain relative path/],
    ['an absolute path', [{ name: '/etc/passwd', body: 'x' }], /outside/],
    ['a file outside the bundle directory', [{ name: 'other/file', body: 'x' }], /outside/],
    ['a symbolic link', [{ name: `${BUNDLE_DIRECTORY}/link`, type: 'symlink', linkname: '/etc/passwd' }], /not a file/],
    ['a file given twice', [{ name: `${BUNDLE_DIRECTORY}/a`, body: '1' }, { name: `${BUNDLE_DIRECTORY}/a`, body: '2' }], /appears twice/],
  ] as const) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(unpackBundle(await archiveOf([...entries])), (error: unknown) => error instanceof BundleArchiveError && message.test(error.message));
    });
  }

  it('refuses bytes that are not a gzipped tar, naming the cause', async () => {
    await assert.rejects(unpackBundle(Buffer.from('not an archive')), (error: unknown) => error instanceof BundleArchiveError && /not a readable bundle/.test(error.message));
  });
});
