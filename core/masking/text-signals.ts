/**
 * The masking prefilter: one pass over a text that notes which kinds of sensitive value could
 * possibly be in it, so that maskText runs only the detectors whose signal is present. A signal is
 * necessary, never sufficient: a detector still validates whatever its pattern finds.
 *
 * Signals look at ASCII only, so a text's UTF-8 bytes (scanned by scanByteSignals) raise exactly the
 * signals its characters do.
 */
export const Signal = {
  /** At least 13 digits in one run: a payment card. */
  LongDigitRun: 1 << 0,
  /** Digit groups of 3, 2 and 4 in a row: a dashed SSN. */
  SsnShape: 1 << 1,
  /** A group of exactly 9 digits: an undashed SSN. */
  NineDigits: 1 << 2,
  /** Digit groups of 3, 3 and 4 in a row: a North American phone number. */
  NanpShape: 1 << 3,
  /** A '+' that starts a run of at least 8 digits: an E.164 phone number. */
  PlusDigits: 1 << 4,
  At: 1 << 5,
  /** Three digit-dot-digit steps: a dotted quad. */
  DottedDigits: 1 << 6,
  /** "::" or at least six colons: an IPv6 address. */
  ManyColons: 1 << 7,
  /** A run of at least 20 characters from [A-Za-z0-9+/]: an AWS access key. */
  Token20: 1 << 8,
  /** The same, at least 40 long: an AWS secret key. */
  Token40: 1 << 9,
  /** Two capital letters then two digits: an IBAN's country code and check digits. */
  IbanHead: 1 << 10,
  /** "eyJ", the base64url of '{"': a JWT header. */
  JsonBase64: 1 << 11,
  /** "-B", as in "-----BEGIN". */
  DashB: 1 << 12,
} as const;

/**
 * A "run" is a sequence of digit groups separated by at most two characters from " -.()", the
 * punctuation of card and phone numbers; any other character ends it. Digit-group shapes are checked
 * when a group closes, so a run ending the text is closed by a sentinel step at index n.
 */
interface CharSource {
  readonly length: number;
  codeAt(index: number): number;
}

function scan(source: CharSource): number {
  const n = source.length;
  let signals = 0;
  let group = 0; // digits in the current group
  let previousGroup = 0; // the two groups before it in the same run
  let groupBefore = 0;
  let runDigits = 0; // digits in the run's closed groups
  let separators = 0; // separator characters since the last group
  let plusRun = false; // the run began with '+'
  let tokenStart = 0; // where the current [A-Za-z0-9+/] run began
  let digitDotAt = -2; // index of the last '.' that followed a digit
  let digitDotDigits = 0;
  let colons = 0;
  let lastColonAt = -2;

  for (let i = 0; i <= n; i++) {
    const c = i < n ? source.codeAt(i) : 0;
    if (c >= 0x30 && c <= 0x39) {
      group++;
      if (group === 1) {
        if (digitDotAt === i - 1) digitDotDigits++;
      } else if (group === 2 && i >= 3 && isUpper(source.codeAt(i - 2)) && isUpper(source.codeAt(i - 3))) {
        signals |= Signal.IbanHead;
      }
      continue;
    }

    const afterDigit = group !== 0;
    if (afterDigit) {
      runDigits += group;
      if (group === 9) signals |= Signal.NineDigits;
      if (group === 4 && groupBefore === 3) {
        if (previousGroup === 2) signals |= Signal.SsnShape;
        else if (previousGroup === 3) signals |= Signal.NanpShape;
      }
      if (runDigits >= 13) signals |= Signal.LongDigitRun;
      if (plusRun && runDigits >= 8) signals |= Signal.PlusDigits;
      groupBefore = previousGroup;
      previousGroup = group;
      group = 0;
      separators = 0;
    }

    if (c >= 0x61 && c <= 0x7a) {
      runDigits = previousGroup = groupBefore = 0;
      plusRun = false;
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) {
      runDigits = previousGroup = groupBefore = 0;
      plusRun = false;
      if (c === 0x4a /* J */ && i >= 2 && source.codeAt(i - 1) === 0x79 && source.codeAt(i - 2) === 0x65) {
        signals |= Signal.JsonBase64;
      } else if (c === 0x42 /* B */ && i >= 1 && source.codeAt(i - 1) === 0x2d) {
        signals |= Signal.DashB;
      }
      continue;
    }

    if (c !== 0x2b && c !== 0x2f) {
      const token = i - tokenStart;
      if (token >= 20) signals |= token >= 40 ? Signal.Token20 | Signal.Token40 : Signal.Token20;
      tokenStart = i + 1;
    }
    if (c === 0x20 || c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29) {
      if (++separators > 2) runDigits = previousGroup = groupBefore = 0;
      if (c === 0x2e && afterDigit) digitDotAt = i;
    } else {
      runDigits = previousGroup = groupBefore = separators = 0;
      plusRun = c === 0x2b;
      if (c === 0x40) signals |= Signal.At;
      else if (c === 0x3a) {
        colons++;
        if (lastColonAt === i - 1) signals |= Signal.ManyColons;
        lastColonAt = i;
      }
    }
  }
  if (digitDotDigits >= 3) signals |= Signal.DottedDigits;
  if (colons >= 6) signals |= Signal.ManyColons;
  return signals;
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

export function scanSignals(text: string): number {
  return scan(new StringSource(text));
}

export function scanByteSignals(bytes: Uint8Array): number {
  return scan(new ByteSource(bytes));
}

class StringSource implements CharSource {
  constructor(private readonly text: string) {}
  get length(): number {
    return this.text.length;
  }
  codeAt(index: number): number {
    return this.text.charCodeAt(index);
  }
}

class ByteSource implements CharSource {
  constructor(private readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.length;
  }
  codeAt(index: number): number {
    return this.bytes[index]!;
  }
}
