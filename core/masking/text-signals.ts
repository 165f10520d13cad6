/**
 * The masking prefilter: one pass over a text that notes which kinds of sensitive value could
 * possibly be in it, so that maskText runs only the detectors whose signal is present. A signal is
 * necessary, never sufficient: a detector still validates whatever its pattern finds.
 *
 * Letters cost two comparisons each and digits about as much: a digit group is read to its end in
 * an inner loop and judged once, and tokens are measured when punctuation ends them. Signals read
 * ASCII only, so a text's UTF-8 bytes raise exactly the signals its characters do; scanUtf8Signals
 * reads the bytes without decoding them. The two scanners (and their long-token readers) are one
 * algorithm written twice, because a single function reading both strings and bytes runs at half
 * the speed (V8 no longer inlines the reads).
 * test/core/masking/text-signals.test.ts holds them to the same answers.
 */
export const Signal = {
  /** At least 13 digits in one run: a payment card. */
  LongDigitRun: 1 << 0,
  /** Digit groups of 3, 2 and 4 in one run: a dashed SSN. */
  SsnShape: 1 << 1,
  /** A group of exactly 9 digits: an undashed SSN. */
  NineDigits: 1 << 2,
  /** Digit groups of 3, 3 and 4 in one run: a North American phone number. */
  NanpShape: 1 << 3,
  /** A run of at least 8 digits after a '+': an E.164 phone number. */
  PlusDigits: 1 << 4,
  At: 1 << 5,
  /** Four digit groups joined by single dots: a dotted quad. */
  DottedDigits: 1 << 6,
  /** "::" or at least six colons: an IPv6 address. */
  ManyColons: 1 << 7,
  /** A word (letters, digits, '_') of exactly 20 characters: an AWS access key id, which \b bounds on both sides. */
  Token20: 1 << 8,
  /** A run of exactly 40 base64 characters (letters, digits, '+', '/') not followed by '=': an AWS secret key. */
  Token40: 1 << 9,
  /** Two capital letters then two digits: an IBAN's country code and check digits. */
  IbanHead: 1 << 10,
  /** "eyJ" (the base64url of '{"') and two dots: a JWT. */
  JsonBase64: 1 << 11,
  /** "-B", as in "-----BEGIN". */
  DashB: 1 << 12,
} as const;

const PLUS = 0x2b;
const SLASH = 0x2f;
const DOT = 0x2e;
const UNDERSCORE = 0x5f;
const EQUALS = 0x3d;

/**
 * A digit "run" is a sequence of digit groups separated by one or two characters from " -.()",
 * the punctuation of card and phone numbers. Reads past either end yield -1, which no test matches:
 * an out-of-bounds charCodeAt would make V8 deoptimize the scanner.
 */
export function scanSignals(text: string): number {
  const n = text.length;
  let signals = 0;
  let digitEnd = -10; // where the last digit group ended
  let previousGroup = 0; // lengths of the two groups before the current one in the same run
  let groupBefore = 0;
  let runDigits = 0; // digits in the run so far
  let plusRun = false;
  let dottedSteps = 0; // digit-dot-digit steps in a row, as in 192.168.0.1
  let tokenStart = 0;
  let dots = 0;
  let colons = 0;
  let lastColonAt = -2;

  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0x41) {
      if (c <= 0x7a) continue; // letters, and [\]^_` which can only make tokens look longer
    } else if (c >= 0x30 && c <= 0x39) {
      const gap = i - digitEnd;
      const before = codeAt(text, i - 1);
      if (!(gap <= 2 && isRunSeparator(before) && (gap === 1 || isRunSeparator(codeAt(text, i - 2))))) {
        runDigits = previousGroup = groupBefore = 0;
        plusRun = before === PLUS || ((before === 0x28 || before === 0x20) && codeAt(text, i - 2) === PLUS); // "+1", "+(44", "+ 44"
      }
      if (gap !== 1 || before !== DOT) dottedSteps = 0;
      else if (++dottedSteps === 3) signals |= Signal.DottedDigits;
      if (isUpper(before) && isUpper(codeAt(text, i - 2)) && isDigit(codeAt(text, i + 1))) signals |= Signal.IbanHead;
      let groupEnd = i + 1;
      while (groupEnd < n && (c = text.charCodeAt(groupEnd)) >= 0x30 && c <= 0x39) groupEnd++;
      const group = groupEnd - i;
      runDigits += group;
      signals |= groupSignals(group, previousGroup, groupBefore, runDigits, plusRun);
      groupBefore = previousGroup;
      previousGroup = group;
      digitEnd = groupEnd;
      i = groupEnd - 1;
      continue;
    }

    // Space, punctuation, non-ASCII.
    if (c !== PLUS && c !== SLASH) {
      if (i - tokenStart >= 20) signals |= longTokenSignals(text, tokenStart, i, c);
      tokenStart = i + 1;
    }
    if (c === DOT) dots++;
    else if (c === 0x40) signals |= Signal.At;
    else if (c === 0x3a) {
      colons++;
      if (lastColonAt === i - 1) signals |= Signal.ManyColons;
      lastColonAt = i;
    } else if (c === 0x2d && codeAt(text, i + 1) === 0x42) signals |= Signal.DashB;
  }

  if (n - tokenStart >= 20) signals |= longTokenSignals(text, tokenStart, n, -1);
  if (colons >= 6) signals |= Signal.ManyColons;
  if (dots >= 2 && text.indexOf('eyJ') !== -1) signals |= Signal.JsonBase64;
  return signals;
}

/**
 * scanSignals over UTF-8 bytes, line for line. `start` and `end` bound the text within `bytes`
 * (a value inside a DataRow), read as if nothing came before or after it.
 */
export function scanUtf8Signals(bytes: Buffer, start = 0, end = bytes.length): number {
  const n = end;
  let signals = 0;
  let digitEnd = -10;
  let previousGroup = 0;
  let groupBefore = 0;
  let runDigits = 0;
  let plusRun = false;
  let dottedSteps = 0;
  let tokenStart = start;
  let dots = 0;
  let colons = 0;
  let lastColonAt = -2;

  for (let i = start; i < n; i++) {
    let c = bytes[i]!;
    if (c >= 0x41) {
      if (c <= 0x7a) continue;
    } else if (c >= 0x30 && c <= 0x39) {
      const gap = i - digitEnd;
      const before = byteAt(bytes, i - 1, start, end);
      if (!(gap <= 2 && isRunSeparator(before) && (gap === 1 || isRunSeparator(byteAt(bytes, i - 2, start, end))))) {
        runDigits = previousGroup = groupBefore = 0;
        plusRun = before === PLUS || ((before === 0x28 || before === 0x20) && byteAt(bytes, i - 2, start, end) === PLUS); // "+1", "+(44", "+ 44"
      }
      if (gap !== 1 || before !== DOT) dottedSteps = 0;
      else if (++dottedSteps === 3) signals |= Signal.DottedDigits;
      if (isUpper(before) && isUpper(byteAt(bytes, i - 2, start, end)) && isDigit(byteAt(bytes, i + 1, start, end))) signals |= Signal.IbanHead;
      let groupEnd = i + 1;
      while (groupEnd < n && (c = bytes[groupEnd]!) >= 0x30 && c <= 0x39) groupEnd++;
      const group = groupEnd - i;
      runDigits += group;
      signals |= groupSignals(group, previousGroup, groupBefore, runDigits, plusRun);
      groupBefore = previousGroup;
      previousGroup = group;
      digitEnd = groupEnd;
      i = groupEnd - 1;
      continue;
    }

    if (c !== PLUS && c !== SLASH) {
      if (i - tokenStart >= 20) signals |= longTokenBytesSignals(bytes, tokenStart, i, c);
      tokenStart = i + 1;
    }
    if (c === DOT) dots++;
    else if (c === 0x40) signals |= Signal.At;
    else if (c === 0x3a) {
      colons++;
      if (lastColonAt === i - 1) signals |= Signal.ManyColons;
      lastColonAt = i;
    } else if (c === 0x2d && byteAt(bytes, i + 1, start, end) === 0x42) signals |= Signal.DashB;
  }

  if (n - tokenStart >= 20) signals |= longTokenBytesSignals(bytes, tokenStart, n, -1);
  if (colons >= 6) signals |= Signal.ManyColons;
  if (dots >= 2 && hasJsonBase64(bytes, start, end)) signals |= Signal.JsonBase64;
  return signals;
}

/** Whether the bytes hold "eyJ": read here, as Buffer.indexOf costs a call into C++ that outweighs the search in a field. */
function hasJsonBase64(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start + 2; i < end; i++) {
    if (bytes[i] === 0x4a && bytes[i - 1] === 0x79 && bytes[i - 2] === 0x65) return true;
  }
  return false;
}

function codeAt(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

function byteAt(bytes: Buffer, i: number, start: number, end: number): number {
  return i >= start && i < end ? bytes[i]! : -1;
}

/** The signals a digit group raises, given the groups before it in its run. */
function groupSignals(group: number, previousGroup: number, groupBefore: number, runDigits: number, plusRun: boolean): number {
  let signals = 0;
  if (group === 9) signals |= Signal.NineDigits;
  if (group === 4 && groupBefore === 3) {
    if (previousGroup === 2) signals |= Signal.SsnShape;
    else if (previousGroup === 3) signals |= Signal.NanpShape;
  }
  if (runDigits >= 13) signals |= Signal.LongDigitRun;
  if (plusRun && runDigits >= 8) signals |= Signal.PlusDigits;
  return signals;
}

/**
 * Token20 and Token40 for a token of 20 characters or more (a run between punctuation marks,
 * '+' and '/' not counting as such), from the runs inside it that the AWS keys' patterns need:
 * a word of exactly 20, a base64 run of exactly 40 that `next` (the character after the token,
 * -1 at the end) does not extend with '='. Only long tokens are read again, so ordinary text
 * pays nothing, and a long line of letters raises neither.
 */
function longTokenSignals(text: string, start: number, end: number, next: number): number {
  let signals = 0;
  let word = 0;
  let base64 = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const alphanumeric = isAlphanumeric(c);
    if (alphanumeric || c === UNDERSCORE) word++;
    else {
      if (word === 20) signals |= Signal.Token20;
      word = 0;
    }
    if (alphanumeric || c === PLUS || c === SLASH) base64++;
    else {
      if (base64 === 40) signals |= Signal.Token40;
      base64 = 0;
    }
  }
  return signals | endOfTokenSignals(word, base64, next);
}

/** longTokenSignals over UTF-8 bytes, line for line. */
function longTokenBytesSignals(bytes: Buffer, start: number, end: number, next: number): number {
  let signals = 0;
  let word = 0;
  let base64 = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    const alphanumeric = isAlphanumeric(c);
    if (alphanumeric || c === UNDERSCORE) word++;
    else {
      if (word === 20) signals |= Signal.Token20;
      word = 0;
    }
    if (alphanumeric || c === PLUS || c === SLASH) base64++;
    else {
      if (base64 === 40) signals |= Signal.Token40;
      base64 = 0;
    }
  }
  return signals | endOfTokenSignals(word, base64, next);
}

function endOfTokenSignals(word: number, base64: number, next: number): number {
  return (word === 20 ? Signal.Token20 : 0) | (base64 === 40 && next !== EQUALS ? Signal.Token40 : 0);
}

function isAlphanumeric(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isRunSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2d || c === DOT || c === 0x28 || c === 0x29;
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
