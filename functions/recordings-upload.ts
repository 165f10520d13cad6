/**
 * POST /v1/recordings — where the proxy puts a finished session recording, when recordings leave
 * the proxy (evidence/s3-recordings.ts): a presigned PUT into the evidence bucket, bound to the
 * recording's SHA-256 and size. Only for a session the control plane opened; the name is the
 * one the gateway gives the file, so readers find it by the path the result entry records.
 */
import { recordingUploadRequestSchema, recordingUploadResponseSchema } from '../core/contract.js';
import { WardenError } from '../core/errors.js';
import { apiHandler, json, parseJsonBody } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

export const handler = apiHandler({ audience: 'proxy' })
  .handler(async (event) => {
    const runtime = getRuntime();
    const request = parseJsonBody(event, recordingUploadRequestSchema);
    const uploads = runtime.evidence.recordingUploads;
    if (!uploads) {
      throw new WardenError('INVALID_REQUEST', 'this control plane keeps no recordings (no evidence bucket is configured): the proxy keeps them in its own recordings directory; unset WARDEN_RECORDINGS on the proxy');
    }
    if (!(await runtime.sessions.get(request.sessionId))) throw new WardenError('UNKNOWN_SESSION', `no session ${request.sessionId}: a recording belongs to a session this control plane opened`);
    const target = await uploads.uploadTarget(`${request.sessionId}-${request.commandId}.cast`, request.sha256, request.bytes);
    return json(200, recordingUploadResponseSchema.parse(target));
  });
