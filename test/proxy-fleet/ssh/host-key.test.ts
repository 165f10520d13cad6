import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOrCreateHostKey } from '../../../proxy-fleet/ssh/host-key.js';

describe('the SSH gateway host key', () => {
  it('is made once with mode 0600 and is the same key after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-hostkey-'));
    try {
      const path = join(dir, 'keys', 'ssh-host-ed25519');
      const first = await loadOrCreateHostKey(path);
      assert.match(first.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+$/);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const again = await loadOrCreateHostKey(path);
      assert.equal(again.publicKey, first.publicKey, 'clients that pinned it keep trusting it');
      assert.equal(again.privateKey, first.privateKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a damaged key file with the fix, instead of replacing it silently', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-hostkey-'));
    try {
      const path = join(dir, 'ssh-host-ed25519');
      await writeFile(path, 'not a key');
      await assert.rejects(loadOrCreateHostKey(path), /does not parse .*remove it to make a new one/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
