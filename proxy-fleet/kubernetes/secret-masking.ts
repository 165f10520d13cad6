/**
 * Masks Secret values in Kubernetes API responses before a client sees them. Handles the JSON
 * shapes the API server sends: a Secret, SecretList and other *List kinds, meta.k8s.io Tables
 * (row objects, including PartialObjectMetadata), and watch events, one per line. The
 * `kubectl.kubernetes.io/last-applied-configuration` annotation holds a whole object as JSON
 * text, so it is parsed and masked too.
 *
 * Only JSON is understood. Protobuf (application/vnd.kubernetes.protobuf) and any other body
 * that does not parse as UTF-8 JSON comes back unchanged with `masked: 0`; the caller must
 * negotiate JSON with the API server (Accept header) or refuse the response, and pass on only
 * bodies that arrived whole (a cut-off body may hold readable values).
 */

export const MASKED_SECRET_VALUE = '[masked:secret]';
const MASKED_DATA_VALUE = Buffer.from(MASKED_SECRET_VALUE, 'utf8').toString('base64');
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

export const MAX_WATCH_EVENT_BYTES = 16 * 1024 * 1024;

export interface SecretMaskResult {
  body: Buffer;
  /** Values masked: each data or stringData entry, and each annotation replaced whole. */
  masked: number;
}

/**
 * `too-deep`: a body holding a Secret nests too deeply to serialize again after masking (the API
 * server never sends one); it must not reach the client. The watch codes close the stream.
 */
export type SecretMaskingErrorCode = 'too-deep' | 'watch-event-too-large' | 'watch-ended';

export class SecretMaskingError extends Error {
  override readonly name = 'SecretMaskingError';
  constructor(
    readonly code: SecretMaskingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Masks a complete JSON response body of the API server (application/json). Throws
 * SecretMaskingError `too-deep` rather than pass on a body it found a Secret in but cannot
 * rewrite.
 */
export function maskSecretsInJson(body: Buffer): SecretMaskResult {
  let text: string;
  let root: unknown;
  try {
    text = decoder.decode(body);
    root = JSON.parse(text);
  } catch {
    return { body, masked: 0 };
  }
  const masked = maskTree(root, false);
  if (masked === 0) return { body, masked: 0 };
  // The API server ends bodies with a newline; keep whatever trailing whitespace was there.
  const trailing = trailingWhitespace(text);
  let json: string;
  try {
    json = JSON.stringify(root);
  } catch (error) {
    // JSON.stringify recurses; JSON.parse and maskTree do not.
    if (error instanceof RangeError) throw new SecretMaskingError('too-deep', 'response nests too deeply to mask');
    throw error;
  }
  return { body: Buffer.from(json + trailing, 'utf8'), masked };
}

// Not /\s*$/: that backtracks quadratically over long inner runs of whitespace.
function trailingWhitespace(text: string): string {
  let start = text.length;
  while (start > 0 && /\s/.test(text[start - 1]!)) start--;
  return text.slice(start);
}

/**
 * Walks the known shapes without recursion (a hostile body cannot overflow the stack) and
 * masks in place. `inAnnotation` is set while masking a last-applied annotation's content: a
 * further annotation nested in it is replaced whole instead of parsed again.
 */
function maskTree(root: unknown, inAnnotation: boolean): number {
  let masked = 0;
  const pending: { value: unknown; secret: boolean }[] = [{ value: root, secret: false }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value } = next;
    if (!isObject(value)) continue;
    const kind = value['kind'];
    const secret = next.secret || kind === 'Secret';
    if (secret) masked += maskSecretFields(value);
    // A PartialObjectMetadata (Table rows, metadata-only lists) does not say what it describes.
    masked += maskLastApplied(value, secret || kind === 'PartialObjectMetadata', inAnnotation);

    const items = value['items'];
    if (Array.isArray(items) && typeof kind === 'string' && kind.endsWith('List')) {
      // Items of a typed list carry no kind of their own: SecretList items are Secrets.
      for (const item of items) pending.push({ value: item, secret: kind === 'SecretList' });
    }
    const rows = value['rows'];
    if (kind === 'Table' && Array.isArray(rows)) {
      for (const row of rows) if (isObject(row)) pending.push({ value: row['object'], secret: false });
    }
    const type = value['type'];
    if (kind === undefined && typeof type === 'string' && WATCH_EVENT_TYPES.has(type)) {
      pending.push({ value: value['object'], secret: false });
    }
  }
  return masked;
}

function maskSecretFields(secret: JsonObject): number {
  return maskValues(secret, 'data', MASKED_DATA_VALUE) + maskValues(secret, 'stringData', MASKED_SECRET_VALUE);
}

function maskValues(secret: JsonObject, field: string, replacement: string): number {
  const values = secret[field];
  if (values === undefined || values === null) return 0;
  if (!isObject(values)) {
    // Not a shape the API server sends; keep nothing of it.
    secret[field] = replacement;
    return 1;
  }
  let masked = 0;
  for (const key of Object.keys(values)) {
    values[key] = replacement;
    masked++;
  }
  return masked;
}

function maskLastApplied(object: JsonObject, maySecret: boolean, inAnnotation: boolean): number {
  const metadata = object['metadata'];
  if (!isObject(metadata)) return 0;
  const annotations = metadata['annotations'];
  if (!isObject(annotations)) return 0;
  const text = annotations[LAST_APPLIED];
  if (typeof text !== 'string') return 0;
  if (inAnnotation) {
    if (!maySecret) return 0;
    annotations[LAST_APPLIED] = MASKED_SECRET_VALUE;
    return 1;
  }

  let applied: unknown;
  try {
    applied = JSON.parse(text);
  } catch {
    applied = undefined;
  }
  if (!isObject(applied)) {
    if (!maySecret) return 0;
    annotations[LAST_APPLIED] = MASKED_SECRET_VALUE;
    return 1;
  }
  // On a Secret the applied content is that Secret even if its kind was left out.
  let masked = maySecret && object['kind'] === 'Secret' && applied['kind'] === undefined ? maskSecretFields(applied) : 0;
  masked += maskTree(applied, true);
  if (masked > 0) {
    const trailing = trailingWhitespace(text);
    annotations[LAST_APPLIED] = JSON.stringify(applied) + trailing;
  }
  return masked;
}

const NEWLINE = 0x0a;

/**
 * For watch streams: one JSON object per line ({"type":…,"object":…}); masks each event's
 * object. Lines are split on the newline byte, which never occurs inside a multibyte UTF-8
 * character, so chunks may split anywhere.
 */
export class SecretWatchMasker {
  #held: Buffer[] = [];
  #heldBytes = 0;
  #masked = 0;
  #ended = false;

  constructor(private readonly maxEventBytes: number = MAX_WATCH_EVENT_BYTES) {}

  /** Values masked so far over the whole stream. */
  get masked(): number {
    return this.#masked;
  }

  /** Returns the masked complete events in `chunk` (with what was held before); holds the rest. */
  push(chunk: Buffer): Buffer {
    if (this.#ended) throw new SecretMaskingError('watch-ended', 'push after end of the watch stream');
    const out: Buffer[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      const part = chunk.subarray(start, newline);
      this.#checkSize(this.#heldBytes + part.length);
      const line = this.#held.length === 0 ? part : Buffer.concat([...this.#held, part]);
      this.#held = [];
      this.#heldBytes = 0;
      out.push(this.#mask(line), chunk.subarray(newline, newline + 1));
      start = newline + 1;
    }
    if (start < chunk.length) {
      const tail = chunk.subarray(start);
      this.#checkSize(this.#heldBytes + tail.length);
      // Copy: the caller may reuse its chunk buffer.
      this.#held.push(Buffer.from(tail));
      this.#heldBytes += tail.length;
    }
    return out.length === 0 ? Buffer.alloc(0) : Buffer.concat(out);
  }

  /**
   * Flushes the held tail: masked if it is a complete object without its final newline,
   * otherwise returned unchanged.
   */
  end(): Buffer {
    if (this.#ended) return Buffer.alloc(0);
    this.#ended = true;
    const tail = Buffer.concat(this.#held);
    this.#held = [];
    this.#heldBytes = 0;
    if (tail.length === 0) return tail;
    // A stream cut off mid-event leaves a tail no client could parse, which may still hold
    // readable secret values: it is dropped, not passed on.
    try {
      JSON.parse(tail.toString('utf8'));
    } catch {
      return Buffer.alloc(0);
    }
    return this.#mask(tail);
  }

  #mask(line: Buffer): Buffer {
    const result = maskSecretsInJson(line);
    this.#masked += result.masked;
    return result.body;
  }

  #checkSize(bytes: number): void {
    if (bytes > this.maxEventBytes) {
      this.#held = [];
      this.#heldBytes = 0;
      this.#ended = true;
      throw new SecretMaskingError('watch-event-too-large', `watch event exceeds ${this.maxEventBytes} bytes`);
    }
  }
}
