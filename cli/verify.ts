/** `warden verify`: the whole live log, held to its signed checkpoints and to any saved one. */
import { readFile } from 'node:fs/promises';
import { verifyLog, type IndexedEntry, type LogReport } from '../core/ledger/log-verify.js';
import { parseVerifierKey, type NoteVerifier } from '../core/ledger/signed-note.js';
import { TILE_WIDTH } from '../core/ledger/tiles.js';
import { isWardenError } from '../core/errors.js';
import type { BatchRecord } from '../functions/lib/ledger-reader.js';
import { statePaths } from '../functions/lib/runtime.js';
import { CliError } from './cli-support.js';
import type { LoadedConfig } from './config-file.js';
import { openStore } from './store-access.js';

export interface VerifyOptions {
  /** A checkpoint note saved earlier: proves the log still holds everything it committed to. */
  readonly checkpointFile?: string;
  /** The log's public key (vkey); by default the state directory's. */
  readonly keyFile?: string;
  readonly progress: (entries: number) => void;
}

/** The log's public key (signed-note vkey text): --key, or the one beside the state directory's log key. */
export async function readVerifierKey(loaded: LoadedConfig, keyFile: string | undefined): Promise<string> {
  const path = keyFile ?? statePaths(loaded.stateDir).logVerifierKey;
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch {
    throw new CliError(`cannot read the log's public key at ${path}; pass it with --key FILE`, 2);
  }
  try {
    parseVerifierKey(text);
  } catch (error) {
    throw new CliError(`${path} is not a signed-note verifier key: ${(error as Error).message}`, 2);
  }
  return text;
}

export async function loadVerifier(loaded: LoadedConfig, keyFile: string | undefined): Promise<NoteVerifier> {
  return parseVerifierKey(await readVerifierKey(loaded, keyFile));
}

export async function verifyLiveLog(loaded: LoadedConfig, options: VerifyOptions): Promise<LogReport> {
  const verifier = await loadVerifier(loaded, options.keyFile);
  const saved = options.checkpointFile ? await readSaved(options.checkpointFile) : undefined;
  const store = await openStore(loaded);
  try {
    const { reader } = store;
    // The checkpoint first: it signs a state at most as large as any read after it, so an
    // integration and checkpoint running meanwhile cannot look like a truncated log.
    const latest = await reader.latestCheckpoint();
    const state = await reader.state();
    const entries: IndexedEntry[] = [];
    for await (const entry of reader.entries()) {
      entries.push(entry);
      if (entries.length % 10_000 === 0) options.progress(entries.length);
    }
    const batches: BatchRecord[] = [];
    for await (const batch of reader.allBatches()) batches.push(batch);
    const leafTiles = await reader.readTiles(Array.from({ length: Math.ceil(state.size / TILE_WIDTH) }, (_, index) => ({ level: 0, index })));
    return verifyLog({
      entries,
      verifier,
      state,
      storedLeaves: leafTiles.flat(),
      batches,
      checkpoints: [...(latest ? [{ label: 'latest checkpoint in the store', note: latest.note }] : []), ...(saved ? [{ label: options.checkpointFile!, note: saved }] : [])],
    });
  } catch (error) {
    if (isWardenError(error)) throw new CliError(`${error.message}; is the store at ${store.endpoint} running?`, 3);
    throw error;
  } finally {
    await store.close();
  }
}

async function readSaved(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read the saved checkpoint ${path}`, 2);
  }
}
