/**
 * GET /v1/sessions/{id}/recordings/{commandId} — a shell's recording (asciicast v2), for the
 * console's reader groups. It is served only when its bytes still have the SHA-256 the ledger
 * holds; the ledger's path is trusted for its file name only (evidence/sources.ts recordingsIn).
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { WardenError } from '../core/errors.js';
import { callerOf } from './lib/callers.js';
import { requireReader } from './lib/console-access.js';
import { apiHandler } from './lib/http.js';
import { LedgerReader } from './lib/ledger-reader.js';
import { getRuntime } from './lib/runtime.js';
import { number, readSession, recordingOf } from './lib/session-views.js';

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const runtime = getRuntime();
    requireReader(runtime, await callerOf(event, runtime));
    const id = event.pathParameters?.id ?? '';
    const commandText = event.pathParameters?.commandId ?? '';
    if (!/^\d{1,15}$/.test(commandText)) throw new WardenError('INVALID_REQUEST', `command id ${JSON.stringify(commandText)} is not a number; take it from GET /v1/sessions/${id}`);
    const commandId = Number(commandText);
    const session = await readSession(new LedgerReader(runtime.client, runtime.config.store.tablePrefix), id);
    const result = session?.commands.find((command) => number(command.first.data.commandId) === commandId)?.result;
    const recording = result && recordingOf(result);
    if (!recording) throw new WardenError('UNKNOWN_SESSION', `no recording of command ${commandId} of session ${id} in the ledger; only SSH shells are recorded`);
    const what = `the recording of command ${commandId} of session ${id}`;
    if (!runtime.evidence.recordingsReadable) {
      throw new WardenError('UNKNOWN_SESSION', `${what} is not here: recordings stay with the proxy task in this deployment; read ${basename(recording.path)} from the proxy task's recordings directory`);
    }
    const bytes = await runtime.evidence.readRecording(recording.path);
    if (!bytes) throw new WardenError('UNKNOWN_SESSION', `${what} (${basename(recording.path)}) is gone from where recordings are kept`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== recording.sha256) {
      throw new WardenError('CHAIN_CONFLICT', `${what} was altered after it was recorded: its SHA-256 is ${sha256}, the ledger holds ${recording.sha256}; it is not shown (restore the file from an evidence bundle)`);
    }
    return { statusCode: 200, headers: { 'content-type': 'application/x-asciicast', 'cache-control': 'no-store' }, body: bytes.toString('utf8') };
  });
