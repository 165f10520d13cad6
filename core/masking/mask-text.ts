import type { Detector, DetectorMatch } from './detectors.js';
import { scanSignals, scanUtf8Signals } from './text-signals.js';

export interface MaskedText {
  readonly text: string;
  /** Values masked, per detector id; only detectors that masked something appear. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface MaskedBytes {
  readonly bytes: Buffer;
  readonly counts: Readonly<Record<string, number>>;
}

const NOTHING_MASKED: Readonly<Record<string, number>> = Object.freeze({});

/**
 * Replaces every value the detectors find. The replacement names the detector and keeps nothing of
 * the value ("[masked:email]"), except that a card keeps its last four digits
 * ("[masked:credit-card …1111]"): PCI DSS allows showing them, and they are what people use to tell
 * their cards apart. When nothing is found the input string itself is returned, so callers can
 * compare references to learn whether anything changed.
 */
export function maskText(text: string, detectors: readonly Detector[]): MaskedText {
  const signals = scanSignals(text);
  if (!mayAnyMatch(detectors, signals)) return { text, counts: NOTHING_MASKED };
  const counts: Record<string, number> = {};
  const masked = maskWithSignals(text, signals, detectors, counts);
  return masked === undefined ? { text, counts: NOTHING_MASKED } : { text: masked, counts };
}

/**
 * maskText for a UTF-8 text field: the same Buffer back when nothing matched. A field that is masked
 * is decoded and re-encoded, so bytes that are not valid UTF-8 come back as U+FFFD: the caller must
 * only pass UTF-8 (for PostgreSQL, client_encoding UTF8).
 */
export function maskBytes(bytes: Buffer, detectors: readonly Detector[]): MaskedBytes {
  const signals = scanUtf8Signals(bytes);
  if (!mayAnyMatch(detectors, signals)) return { bytes, counts: NOTHING_MASKED };
  const counts: Record<string, number> = {};
  const masked = maskWithSignals(bytes.toString('utf8'), signals, detectors, counts);
  return masked === undefined ? { bytes, counts: NOTHING_MASKED } : { bytes: Buffer.from(masked, 'utf8'), counts };
}

/**
 * maskBytes for callers that mask many fields: returns the masked bytes (the same Buffer when
 * nothing matched) and adds the values masked, per detector id, to `counts`, which the caller keeps
 * from field to field. Nothing is allocated for a field without a match, where maskBytes allocates
 * a result for every field.
 */
export function maskBytesInto(bytes: Buffer, detectors: readonly Detector[], counts: Record<string, number>): Buffer {
  // Most fields go no further than the prefilter, which reads the bytes without decoding them.
  const signals = scanUtf8Signals(bytes);
  if (!mayAnyMatch(detectors, signals)) return bytes;
  const masked = maskWithSignals(bytes.toString('utf8'), signals, detectors, counts);
  return masked === undefined ? bytes : Buffer.from(masked, 'utf8');
}

const ALWAYS = -1;
let lastDetectors: readonly Detector[] | undefined;
let lastSignalsWanted = 0;

/**
 * Whether any detector can match a text with these signals (text-signals.ts). Callers pass the same
 * list for every field, so the union of its signals (ALWAYS if a detector has no prefilter) is kept
 * from the last call.
 */
export function mayAnyMatch(detectors: readonly Detector[], signals: number): boolean {
  if (detectors !== lastDetectors) {
    lastSignalsWanted = detectors.reduce((wanted, detector) => (detector.signals === undefined ? ALWAYS : wanted | detector.signals), 0);
    lastDetectors = detectors;
  }
  return lastSignalsWanted === ALWAYS || (signals & lastSignalsWanted) !== 0;
}

function mayMatch(detector: Detector, signals: number): boolean {
  return detector.signals === undefined || (detector.signals & signals) !== 0;
}

/** The masked text, its values counted into `counts`; undefined, and nothing counted, when no detector matched. */
function maskWithSignals(text: string, signals: number, detectors: readonly Detector[], counts: Record<string, number>): string | undefined {
  let matches: DetectorMatch[] | undefined;
  for (const detector of detectors) {
    if (!mayMatch(detector, signals)) continue;
    const found = detector.find(text);
    if (found.length > 0) (matches ??= []).push(...found);
  }
  if (matches === undefined) return undefined;

  const chosen = withoutOverlaps(matches);
  let masked = '';
  let copied = 0;
  for (const match of chosen) {
    masked += text.slice(copied, match.start) + replacement(text, match);
    copied = match.end;
    counts[match.detector] = (counts[match.detector] ?? 0) + 1;
  }
  return masked + text.slice(copied);
}

/**
 * Where matches overlap, the longest wins, then the earliest. Returns them in text order. The
 * kept matches stay sorted by start, so each candidate is checked against its two neighbours
 * only (a text with thousands of values must not cost a check against every kept one).
 */
function withoutOverlaps(matches: DetectorMatch[]): DetectorMatch[] {
  if (matches.length === 1) return matches;
  const byPriority = [...matches].sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const chosen: DetectorMatch[] = [];
  for (const match of byPriority) {
    let low = 0;
    let high = chosen.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (chosen[middle]!.start < match.start) low = middle + 1;
      else high = middle;
    }
    const before = chosen[low - 1];
    const after = chosen[low];
    if ((before === undefined || before.end <= match.start) && (after === undefined || after.start >= match.end)) chosen.splice(low, 0, match);
  }
  return chosen;
}

function replacement(text: string, match: DetectorMatch): string {
  if (match.detector === 'credit-card') {
    const digits = text.slice(match.start, match.end).replace(/\D/g, '');
    return `[masked:credit-card …${digits.slice(-4)}]`;
  }
  return `[masked:${match.detector}]`;
}
