/** `warden checkpoint`: integrate every durable batch and sign a checkpoint now. */
import type { SignedCheckpoint } from '../functions/lib/checkpointer.js';
import { DirectorySink } from '../functions/lib/evidence-sink.js';
import { integrateAndSign } from '../functions/lib/integrate-and-sign.js';
import type { IntegrationResult } from '../functions/lib/integrator.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import type { LoadedConfig } from './config-file.js';
import { openStore } from './store-access.js';

export async function integrateAndCheckpoint(loaded: LoadedConfig): Promise<{ integrated: IntegrationResult; checkpoint: SignedCheckpoint | undefined }> {
  const paths = statePaths(loaded.stateDir);
  const signer = await loadOrCreateNoteKey(paths.logKey, loaded.config.ledger.origin);
  const store = await openStore(loaded);
  try {
    return await integrateAndSign({ client: store.client, reader: store.reader, signer, origin: loaded.config.ledger.origin, sink: new DirectorySink(paths.evidence) });
  } finally {
    await store.close();
  }
}
