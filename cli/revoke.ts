/**
 * `warden revoke`: revoke one token (by its jti) or a whole chain (by its chain id). New
 * sessions are refused at once; running ones end at the proxy's next status poll. The
 * revocation is a ledger entry.
 */
import { createHmac } from 'node:crypto';
import { userInfo } from 'node:os';
import { decodeJwt } from 'jose';
import { canonicalJson } from '../core/canonical-json.js';
import { SYSTEM_SESSION } from '../core/ledger/entry.js';
import { BatchWriter } from '../functions/lib/batch-writer.js';
import { loadOrCreateSecret } from '../functions/lib/key-files.js';
import { Revocations } from '../functions/lib/revocations.js';
import { statePaths } from '../functions/lib/runtime.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { openStore } from './store-access.js';

export interface RevokeOptions {
  readonly token?: string;
  readonly chain?: string;
  readonly reason: string;
}

export async function revoke(loaded: LoadedConfig, options: RevokeOptions): Promise<{ key: string; alreadyRevoked: boolean; entry: string | undefined }> {
  const key = revocationKey(options);
  const store = await openStore(loaded);
  try {
    const { tablePrefix } = loaded.config.store;
    const created = await new Revocations(store.client, tablePrefix).revoke(key, options.reason);
    if (!created) return { key, alreadyRevoked: true, entry: undefined };
    const digestKey = await loadOrCreateSecret(statePaths(loaded.stateDir).digestKey);
    const data = { revoked: key, reason: options.reason };
    const [entry] = await new BatchWriter(store.client, tablePrefix).append([
      {
        session: SYSTEM_SESSION,
        type: 'token.revoked',
        time: new Date().toISOString(),
        identity: { sub: `operator:${userInfo().username}`, groups: [], chain: SYSTEM_SESSION, act: [] },
        connection: '',
        digest: createHmac('sha256', digestKey).update(canonicalJson(data)).digest('hex'),
        data,
      },
    ]);
    return { key, alreadyRevoked: false, entry: entry?.id };
  } finally {
    await store.close();
  }
}

function revocationKey(options: RevokeOptions): string {
  if ((options.token === undefined) === (options.chain === undefined)) throw new CliError('give exactly one of --token or --chain', 2);
  if (options.chain !== undefined) return Revocations.chainKey(options.chain);
  try {
    const jti = decodeJwt(options.token!).jti;
    if (typeof jti !== 'string') throw new Error('no jti');
    return Revocations.tokenKey(jti);
  } catch {
    throw new CliError('--token is not a Warden token (a JWT with a jti)', 2);
  }
}
