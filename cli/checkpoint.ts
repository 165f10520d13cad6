/** `warden checkpoint`: integrate every durable batch and sign a checkpoint now. */
import { Checkpointer, type SignedCheckpoint } from '../functions/lib/checkpointer.js';
import { DirectorySink } from '../functions/lib/evidence-sink.js';
import { Integrator, type IntegrationResult } from '../functions/lib/integrator.js';
import { loadOrCreateNoteKey } from '../functions/lib/key-files.js';
import { statePaths } from '../functions/lib/runtime.js';
import type { LoadedConfig } from './config-file.js';
import { openStore } from './store-access.js';

export async function integrateAndCheckpoint(loaded: LoadedConfig): Promise<{ integrated: IntegrationResult; checkpoint: SignedCheckpoint | undefined }> {
  const paths = statePaths(loaded.stateDir);
  const signer = await loadOrCreateNoteKey(paths.logKey, loaded.config.ledger.origin);
  const store = await openStore(loaded);
  try {
    const integrated = await new Integrator(store.client, store.reader).integrateAll();
    const checkpoint = await new Checkpointer(store.client, store.reader, signer, loaded.config.ledger.origin, new DirectorySink(paths.evidence)).checkpoint();
    return { integrated, checkpoint };
  } finally {
    await store.close();
  }
}
