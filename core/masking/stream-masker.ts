/**
 * Masking for a byte stream that arrives in arbitrary pieces, such as the output of an SSH exec or
 * shell channel, with the same detectors and replacements as maskBytes.
 *
 * The stream is cut only where cutting cannot change what the detectors find, so the pieces masked
 * one by one come out as the whole stream masked at once would:
 *
 * - After a line break ("\n" or "\r"). Most detectors never match across one, and treat one beside
 *   a match as they treat the start or end of the text. Three built-in detectors can cross line
 *   breaks: a private key is a block of lines, "ssn:" may sit up to 20 non-digits before its
 *   number, and "aws_secret_access_key" may be followed by any whitespace. The masker knows them
 *   by id and holds back a line break that one of them may still carry on across: inside an
 *   unclosed "-----BEGIN … PRIVATE KEY-----", or right after such a label. A detector of another id
 *   is taken never to match across a line break.
 * - Inside a line that outgrew maxHold, so that long lines are not held without limit. The held text
 *   is cut MAX_MATCH characters before its end, moved back before any match it would split, and
 *   LABEL_REACH further where matches are not packed closer than that, so that a label stays with
 *   its value. A match no longer than MAX_MATCH thus stays whole. Text on either side of such a cut
 *   is masked without the other, which can mask a little more than maskBytes would (the end of a
 *   long number can pass for a card).
 *
 * Text that is not UTF-8 (binary output, another encoding) passes through byte for byte: its bytes
 * take part in masking as characters no detector matches, where maskBytes would have made them
 * U+FFFD. A multi-byte character split between pieces is held until it is whole.
 *
 * Pure: the caller drives time, calling flush() when the stream goes idle and end() when it ends.
 */
import { isUtf8 } from 'node:buffer';
import type { Detector, DetectorMatch } from './detectors.js';
import { maskBytes, maskBytesInto, maskText, mayAnyMatch } from './mask-text.js';
import { scanSignals, scanUtf8Signals } from './text-signals.js';

export interface StreamMaskerOptions {
  /** Bytes of an unfinished line held back before part of it is let through; default 4096. */
  readonly maxHold?: number;
}

/**
 * The longest match, in UTF-16 code units, that a cut inside an over-long line keeps whole. The
 * detectors' patterns bound most matches, labels included: a card 23 (19 digits in fours), an IBAN
 * 44 (the longest grouped form its pattern takes), a labelled SSN 35 ("social", 20 non-digits, 9
 * digits), an E.164 phone number 44 (15 digits, up to two separators between groups), an IPv6
 * candidate 51, an AWS access key 20, a secret key with its label 64 plus the whitespace around its
 * "=". Nothing bounds an email's local part, a JWT, that whitespace or a private key. 512 holds any
 * address RFC 5321 allows (254), and a JWT whose header and payload fit in it (a JWT cut in its
 * signature still matches, so it is kept whole too). Private keys are multi-line and kept whole by
 * the line rule, up to maxHold.
 */
const MAX_MATCH = 512;
/**
 * Text a labelled detector reads before the value it reports: "social" and 20 non-digits (26), or
 * "aws_secret_access_key" with a quote and "=" (24) and up to 40 characters of whitespace.
 */
const LABEL_REACH = 64;
const DEFAULT_MAX_HOLD = 4096;
/** A buffer grown this large for a big chunk is given back once little of it is held. */
const SHRINK_ABOVE = 1 << 16;

const EMPTY = Buffer.alloc(0);

const KEY_MARK = Buffer.from('-----BEGIN ');
const KEY_HEADER = /^-----BEGIN ((?:RSA |EC |OPENSSH |ENCRYPTED |DSA )?)PRIVATE KEY-----/;
const LONGEST_KEY_HEADER = '-----BEGIN ENCRYPTED PRIVATE KEY-----'.length;
const SSN_LABEL = /(?<![a-z])(?:ssn|social)/i;
/** Text that ends where a labelled SSN's number may still follow (us-ssn's SSN_LABELLED). */
const SSN_LABEL_OPEN = new RegExp(`${SSN_LABEL.source}\\D{0,20}$`, 'i');
const SECRET_LABEL = /secret[_-]?access[_-]?key/i;
/** Enough bytes before a cut for SSN_LABEL_OPEN: "social" and 20 characters of up to 3 bytes. */
const SSN_LABEL_BYTES = 80;
/** A secret key's label with its quote, once the whitespace and "=" after it are trimmed. */
const SECRET_LABEL_END = new RegExp(`${SECRET_LABEL.source}["']?$`, 'i');

/** A "-----BEGIN … PRIVATE KEY-----" line in the held bytes, and the END line that closes it. */
interface HeldKey {
  start: number;
  readonly closer: Buffer;
  /** Where the closing line ends, Infinity until it has been seen. */
  closedAt: number;
  /** Where to look for the closing line next. */
  searchFrom: number;
}

export class StreamMasker {
  readonly #detectors: readonly Detector[];
  readonly #maxHold: number;
  /** Characters kept back at a cut inside a long line: MAX_MATCH, less for a small maxHold. */
  readonly #overlap: number;
  readonly #watchKeys: boolean;
  readonly #watchSsnLabel: boolean;
  readonly #watchSecretLabel: boolean;
  /** The labels of the watched detectors, anywhere in a text; undefined when none is watched. */
  readonly #labels: RegExp | undefined;

  /** The held bytes are #buffer[#start, #end); views of #buffer never leave the masker, so it is reused. */
  #buffer: Buffer = EMPTY;
  #start = 0;
  #end = 0;
  #keys: HeldKey[] = [];
  /** Held bytes before this were searched for key headers. */
  #keysScanned = 0;
  #counts: Record<string, number> = {};

  constructor(detectors: readonly Detector[], options: StreamMaskerOptions = {}) {
    const maxHold = options.maxHold ?? DEFAULT_MAX_HOLD;
    if (!Number.isInteger(maxHold) || maxHold < 64) throw new RangeError(`maxHold must be an integer of at least 64, not ${maxHold}`);
    this.#detectors = detectors;
    this.#maxHold = maxHold;
    // What a long-line cut keeps is at most 2 * overlap + 1 characters of up to 3 bytes: within maxHold.
    this.#overlap = Math.min(MAX_MATCH, Math.floor(maxHold / 8));
    const ids = new Set(detectors.map((d) => d.id));
    this.#watchKeys = ids.has('pem-private-key');
    this.#watchSsnLabel = ids.has('us-ssn');
    this.#watchSecretLabel = ids.has('aws-secret-key');
    const labels = [...(this.#watchSsnLabel ? [SSN_LABEL.source] : []), ...(this.#watchSecretLabel ? [SECRET_LABEL.source] : [])];
    this.#labels = labels.length === 0 ? undefined : new RegExp(labels.join('|'), 'i');
  }

  /** Bytes received but not yet emitted. */
  get held(): number {
    return this.#end - this.#start;
  }

  /**
   * Takes the next piece of the stream; returns the masked bytes that are safe to emit now. The
   * result may share memory with `chunk`.
   */
  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return EMPTY;
    const fresh = this.held;
    // With nothing held, the chunk is read where it lies and only what stays held is copied.
    const owned = fresh > 0;
    if (owned) this.#append(chunk);
    const data = owned ? this.#buffer.subarray(this.#start, this.#end) : chunk;
    if (this.#watchKeys) this.#trackKeys(data);

    const parts: Buffer[] = [];
    let cut = this.#lineCut(data, fresh);
    if (cut > 0) {
      parts.push(this.#maskLines(data.subarray(0, cut)));
      this.#dropFront(cut);
    }
    if (data.length - cut > this.#maxHold) {
      const longCut = this.#longLineCut(data.subarray(cut));
      parts.push(this.#mask(data.subarray(cut, cut + longCut)));
      this.#dropFront(longCut);
      cut += longCut;
    }

    if (owned) {
      this.#start += cut;
      if (this.#buffer.length > SHRINK_ABOVE && 4 * this.held < this.#buffer.length) this.#reallocate(2 * this.held);
    } else {
      this.#start = this.#end = 0;
      this.#append(chunk.subarray(cut));
    }
    const out = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return owned && parts.length === 1 ? this.#own(out) : out;
  }

  /**
   * Emits everything held, for a stream gone idle (a prompt without a line break must show), except
   * the start of a multi-byte character whose other bytes have not arrived. A match the stream
   * carries on after an idle flush is not masked: the flush has already let its start through.
   */
  flush(): Buffer {
    const held = this.#buffer.subarray(this.#start, this.#end);
    const emit = held.length - incompleteTail(held);
    const out = this.#own(this.#mask(held.subarray(0, emit)));
    this.#dropFront(emit);
    this.#start += emit;
    return out;
  }

  /** Emits everything held, incomplete characters included, at the end of the stream. */
  end(): Buffer {
    const out = this.#own(this.#mask(this.#buffer.subarray(this.#start, this.#end)));
    this.#start = this.#end = 0;
    this.#keys = [];
    this.#keysScanned = 0;
    return out;
  }

  /** Values masked so far, per detector id. */
  counts(): Record<string, number> {
    return { ...this.#counts };
  }

  /** Values masked since the last take(), per detector id. */
  take(): Record<string, number> {
    const counts = this.#counts;
    this.#counts = {};
    return counts;
  }

  /** Appends to the held bytes, in place when #buffer has room (moving them to its start if that makes room enough). */
  #append(bytes: Buffer): void {
    const held = this.held;
    if (this.#end + bytes.length > this.#buffer.length) {
      // Moving them in place only when that frees at least half the buffer, so each byte is moved a bounded number of times.
      if (2 * (held + bytes.length) <= this.#buffer.length) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#start = 0;
        this.#end = held;
      } else {
        this.#reallocate(2 * (held + bytes.length));
      }
    }
    bytes.copy(this.#buffer, this.#end);
    this.#end += bytes.length;
  }

  #reallocate(capacity: number): void {
    // Not from Buffer's shared pool, so that #own can tell its views by their ArrayBuffer.
    const buffer = Buffer.allocUnsafeSlow(Math.max(capacity, 1024));
    this.#buffer.copy(buffer, 0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
    this.#buffer = buffer;
  }

  /** `bytes`, copied if it lies in #buffer, which later pushes overwrite. */
  #own(bytes: Buffer): Buffer {
    return bytes.buffer === this.#buffer.buffer && bytes.length > 0 ? Buffer.from(bytes) : bytes;
  }

  /**
   * #mask for bytes cut after a line break. Where no match can cross a line break in them (no
   * private key, no label), line by line: the prefilter then lets most lines go without a detector
   * looking at them, which it cannot do for a chunk holding one value somewhere.
   */
  #maskLines(bytes: Buffer): Buffer {
    const keyInside = this.#keys.some((key) => key.start < bytes.length);
    // One scan of the whole run of lines first. A line break ends every token and digit run, so
    // the lines together raise every signal one of them raises: with none, nothing in them can
    // match, on one line or across lines, and bulk output goes through on this scan alone.
    if (!keyInside && !mayAnyMatch(this.#detectors, scanUtf8Signals(bytes))) return bytes;
    if (keyInside || !isUtf8(bytes) || this.#labels?.test(bytes.toString('latin1'))) return this.#mask(bytes);
    const parts: Buffer[] = [];
    let unchanged = 0; // bytes[unchanged, start) come out as they are
    for (let start = 0; start < bytes.length; ) {
      const end = bytes.indexOf(0x0a, start) + 1 || bytes.length;
      const line = bytes.subarray(start, end);
      const masked = maskBytesInto(line, this.#detectors, this.#counts);
      if (masked !== line) {
        if (unchanged < start) parts.push(bytes.subarray(unchanged, start));
        parts.push(masked);
        unchanged = end;
      }
      start = end;
    }
    if (parts.length === 0) return bytes;
    if (unchanged < bytes.length) parts.push(bytes.subarray(unchanged));
    return Buffer.concat(parts);
  }

  #mask(bytes: Buffer): Buffer {
    if (bytes.length === 0) return EMPTY;
    if (isUtf8(bytes)) return maskBytesInto(bytes, this.#detectors, this.#counts);
    // Decoded with U+FFFD, the bytes give every match they give decoded exactly (and maybe a labelled
    // SSN more, one U+FFFD standing for several bytes), so this cheaper decoding rules most out.
    if (maskBytes(bytes, this.#detectors).bytes === bytes) return bytes;
    const text = decodeEscaped(bytes);
    const masked = maskText(text, this.#detectors);
    if (masked.text === text) return bytes;
    this.#count(masked.counts);
    return encodeEscaped(masked.text);
  }

  #count(counts: Readonly<Record<string, number>>): void {
    for (const [id, n] of Object.entries(counts)) this.#counts[id] = (this.#counts[id] ?? 0) + n;
  }

  /**
   * Where to cut data at a line break (0 for nowhere): after the last one no match may cross. Only
   * line breaks in the new bytes (from `fresh` on) are tried: those in the held bytes were found
   * unsafe before and stay so, as what made them so (a key's BEGIN before them with no END yet, a
   * label before them) lies before them.
   */
  #lineCut(data: Buffer, fresh: number): number {
    for (let end = data.length; end > fresh; ) {
      const at = lastLineBreak(data, fresh, end);
      if (at === -1) return 0;
      if (this.#canCutAt(data, at + 1)) return at + 1;
      end = at;
    }
    return 0;
  }

  #canCutAt(data: Buffer, cut: number): boolean {
    for (const key of this.#keys) if (key.start < cut && cut < key.closedAt) return false;
    if (this.#watchSsnLabel && SSN_LABEL_OPEN.test(data.toString('utf8', Math.max(0, cut - SSN_LABEL_BYTES), cut))) return false;
    return !(this.#watchSecretLabel && secretLabelOpen(data, cut));
  }

  /** Finds key headers in the bytes not searched yet, and the END lines of keys still open. */
  #trackKeys(data: Buffer): void {
    let from = this.#keysScanned;
    for (;;) {
      const at = data.indexOf(KEY_MARK, from);
      if (at === -1) {
        // A mark cut short at the end is searched again with the next piece.
        from = Math.max(from, data.length - KEY_MARK.length + 1);
        break;
      }
      const header = KEY_HEADER.exec(data.toString('latin1', at, at + LONGEST_KEY_HEADER));
      if (header) {
        const end = at + header[0].length;
        this.#keys.push({ start: at, closer: Buffer.from(`-----END ${header[1]}PRIVATE KEY-----`), closedAt: Infinity, searchFrom: end });
        from = end;
      } else if (at + LONGEST_KEY_HEADER > data.length) {
        from = at;
        break;
      } else {
        from = at + 1;
      }
    }
    this.#keysScanned = from;

    for (const key of this.#keys) {
      if (key.closedAt !== Infinity) continue;
      const at = data.indexOf(key.closer, key.searchFrom);
      if (at === -1) key.searchFrom = Math.max(key.searchFrom, data.length - key.closer.length + 1);
      else key.closedAt = at + key.closer.length;
    }
  }

  /** Forgets the first `count` held bytes, which have been emitted. */
  #dropFront(count: number): void {
    if (this.#keys.length > 0) {
      this.#keys = this.#keys.filter((key) => key.start >= count);
      for (const key of this.#keys) {
        key.start -= count;
        key.closedAt -= count;
        key.searchFrom -= count;
      }
    }
    this.#keysScanned = Math.max(0, this.#keysScanned - count);
  }

  /**
   * Where to cut a line longer than maxHold: bytes to emit now. Looks only at the held line's last
   * 2 * overlap + LABEL_REACH characters, so a long line costs one detector pass over each part of it.
   * The cut starts `overlap` characters before the end, so a match no longer than that which the cut
   * would split is complete (or, cut off at the end, still a match) and moves the cut before it.
   */
  #longLineCut(data: Buffer): number {
    const overlap = this.#overlap;
    // 3 bytes per character at most; start on a character, not inside one.
    let from = Math.max(0, data.length - 3 * (2 * overlap + LABEL_REACH));
    for (let i = 0; i < 3 && (data[from]! & 0xc0) === 0x80; i++) from++;
    const window = data.subarray(from);
    const valid = isUtf8(window);
    const text = valid ? window.toString('utf8') : decodeEscaped(window);

    const preferred = text.length - overlap;
    const lowest = Math.max(0, preferred - overlap);
    const scanFrom = Math.max(0, lowest - LABEL_REACH);
    const spans = this.#matches(text.slice(scanFrom)).map((m) => ({ start: m.start + scanFrom, end: m.end + scanFrom }));
    // Before every match near the cut with room for a label; where matches sit too close together
    // for that, just not inside one; where even that would go too far back, at the preferred place.
    let cut = settle(preferred, spans, LABEL_REACH);
    if (cut < lowest) cut = settle(preferred, spans, 0);
    if (cut < lowest) cut = preferred;
    if (isHighSurrogate(text.charCodeAt(cut - 1)) && isLowSurrogate(text.charCodeAt(cut))) cut--;

    const head = text.slice(0, cut);
    return from + (valid ? Buffer.byteLength(head, 'utf8') : encodeEscaped(head).length);
  }

  /** Every match of every detector, overlapping ones included. */
  #matches(text: string): DetectorMatch[] {
    const signals = scanSignals(text);
    const found: DetectorMatch[] = [];
    for (const detector of this.#detectors) {
      if (detector.signals === undefined || (detector.signals & signals) !== 0) found.push(...detector.find(text));
    }
    return found;
  }
}

/** Moves `cut` back until it lies neither inside a span nor less than `reach` before one. */
function settle(cut: number, spans: readonly { start: number; end: number }[], reach: number): number {
  for (let moved = true; moved; ) {
    moved = false;
    for (const span of spans) {
      if (span.start - reach < cut && cut < span.end) {
        cut = span.start - reach;
        moved = true;
      }
    }
  }
  return cut;
}

/** The index of the last "\n" or "\r" in data[from, end), or -1. */
function lastLineBreak(data: Buffer, from: number, end: number): number {
  const view = data.subarray(from, end);
  const newline = view.lastIndexOf(0x0a);
  // Only after the last "\n": searching all of view for a "\r" most output lacks would rescan it.
  const carriageReturn = view.subarray(newline + 1).lastIndexOf(0x0d);
  if (carriageReturn !== -1) return from + newline + 1 + carriageReturn;
  return newline === -1 ? -1 : from + newline;
}

/** Whether the text before `cut` ends in a secret key's label, which may continue across line breaks. */
function secretLabelOpen(data: Buffer, cut: number): boolean {
  for (let span = 128; ; span *= 2) {
    const from = Math.max(0, cut - span);
    let text = data.toString('utf8', from, cut).trimEnd();
    if (text.endsWith('=') || text.endsWith(':')) text = text.slice(0, -1).trimEnd();
    // Unless all of it was read, the label must be clear of a character cut at the start.
    if (text.length >= 24 || from === 0) return SECRET_LABEL_END.test(text);
  }
}

/** How many bytes at the end of `bytes` start a multi-byte character that is not complete yet. */
function incompleteTail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * Decodes UTF-8 that may hold invalid bytes, each of which becomes a lone surrogate U+DC80..U+DCFF
 * (as Python's "surrogateescape"): characters no detector matches, and that valid UTF-8 never
 * decodes to, so encodeEscaped can give back the very bytes.
 */
function decodeEscaped(bytes: Buffer): string {
  const units = Buffer.allocUnsafe(bytes.length * 2); // UTF-16LE: never more units than bytes
  let n = 0;
  const put = (unit: number) => {
    units[n++] = unit & 0xff;
    units[n++] = unit >> 8;
  };
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      put(lead);
      i++;
      continue;
    }
    const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    let point = lead & (length === 2 ? 0x1f : length === 3 ? 0x0f : 0x07);
    let k = 1;
    for (; k < length; k++) {
      const next = bytes[i + k] ?? 0;
      // The second byte's range also rules out overlong forms, surrogates and points past U+10FFFF.
      const low = k > 1 ? 0x80 : lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const high = k > 1 ? 0xbf : lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      if (next < low || next > high) break;
      point = (point << 6) | (next & 0x3f);
    }
    if (length === 0 || k < length) {
      // Only the lead byte is escaped: the bytes after it are read again on their own.
      put(0xdc00 | lead);
      i++;
      continue;
    }
    if (point >= 0x10000) {
      put(0xd7c0 + (point >> 10));
      put(0xdc00 | (point & 0x3ff));
    } else {
      put(point);
    }
    i += length;
  }
  return units.toString('utf16le', 0, n);
}

/** UTF-8 of a decodeEscaped text, escaped bytes restored; other lone surrogates become U+FFFD, as in Buffer.from. */
function encodeEscaped(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) {
      out[n++] = unit;
    } else if (unit < 0x800) {
      out[n++] = 0xc0 | (unit >> 6);
      out[n++] = 0x80 | (unit & 0x3f);
    } else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      const point = 0x10000 + ((unit - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      out[n++] = 0xf0 | (point >> 18);
      out[n++] = 0x80 | ((point >> 12) & 0x3f);
      out[n++] = 0x80 | ((point >> 6) & 0x3f);
      out[n++] = 0x80 | (point & 0x3f);
    } else if (unit >= 0xdc80 && unit <= 0xdcff) {
      out[n++] = unit & 0xff;
    } else {
      const point = isHighSurrogate(unit) || isLowSurrogate(unit) ? 0xfffd : unit;
      out[n++] = 0xe0 | (point >> 12);
      out[n++] = 0x80 | ((point >> 6) & 0x3f);
      out[n++] = 0x80 | (point & 0x3f);
    }
  }
  return out.subarray(0, n);
}
