/**
 * Content detectors: each finds one kind of sensitive value in free text and validates every
 * candidate its pattern finds (checksums, issuance rules, structure), so that ordinary numbers
 * rarely pass for one.
 */
import { CARD_MAX_DIGITS, CARD_MIN_DIGITS, isCardNumber } from './card-number.js';
import { ibanLength, isIban } from './iban.js';
import { isIPv4, isIPv6 } from './ip-address.js';
import { Signal } from './text-signals.js';

export interface DetectorMatch {
  start: number;
  end: number;
  detector: string;
}

export interface Detector {
  readonly id: string;
  readonly description: string;
  /** Non-overlapping matches, in text order. */
  find(text: string): DetectorMatch[];
  /**
   * Signal bits (text-signals.ts), one of which any text this detector can match raises. maskText
   * skips the detector for texts that raise none; a detector without it always runs.
   */
  readonly signals?: number;
}

type Span = Omit<DetectorMatch, 'detector'>;

const whole = (m: RegExpExecArray): Span => ({ start: m.index, end: m.index + m[0].length });

/** The span of the match's last `length` characters, where a labelled value sits. */
function trailing(m: RegExpExecArray, length: number): Span {
  const end = m.index + m[0].length;
  return { start: end - length, end };
}

/** Every match of a global regex, optionally narrowed to part of the match or rejected (null). */
function matchesOf(detector: string, pattern: RegExp, text: string, accept: (match: RegExpExecArray) => Span | null = whole): DetectorMatch[] {
  const found: DetectorMatch[] = [];
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const span = accept(m);
    if (span) found.push({ ...span, detector });
  }
  return found;
}

/** Whether a digit group ending here ends its token: not glued by punctuation to another digit ("0958-1", "192.168"). */
function endsToken(text: string, end: number): boolean {
  return end >= text.length || /\s/.test(text.charAt(end)) || !/\d/.test(text.charAt(end + 1));
}

/** The digit groups of a run such as "4111 1111 1111 1111", with where each lies in the text. */
function digitGroups(text: string, start: number, end: number): (Span & { digits: string })[] {
  return [...text.slice(start, end).matchAll(/\d+/g)].map((g) => ({
    start: start + g.index,
    end: start + g.index + g[0].length,
    digits: g[0],
  }));
}

// ---- credit-card ----

// Digit groups separated by single spaces or dashes.
const DIGIT_RUN = /\d+(?:[ -]\d+)*/g;

/** How cards are printed: unbroken, in fours (the last group shorter), or 4-6-5 / 4-6-4 (Amex, Diners). */
function isCardGrouping(groups: readonly { digits: string }[]): boolean {
  const lengths = groups.map((g) => g.digits.length);
  if (lengths.length === 1) return true;
  if (lengths.slice(0, -1).every((length) => length === 4)) return true;
  return lengths.length === 3 && lengths[0] === 4 && lengths[1] === 6 && (lengths[2] === 5 || lengths[2] === 4);
}

const creditCard: Detector = {
  id: 'credit-card',
  description: 'Payment card number: a known issuer prefix and length, and a passing Luhn check',
  signals: Signal.LongDigitRun,
  find(text) {
    const found: DetectorMatch[] = [];
    DIGIT_RUN.lastIndex = 0;
    for (let m = DIGIT_RUN.exec(text); m !== null; m = DIGIT_RUN.exec(text)) {
      if (m[0].length < CARD_MIN_DIGITS) continue;
      const end = m.index + m[0].length;
      const groups = digitGroups(text, m.index, end);
      // A group glued to a word or a decimal point is part of something else ("tok_4111…", "0.4111…").
      const first = /[\w.]/.test(text.charAt(m.index - 1)) ? 1 : 0;
      const last = /\w/.test(text.charAt(end)) || /^\.\d/.test(text.slice(end, end + 2)) ? groups.length - 1 : groups.length;
      // A run can carry on into neighbouring numbers ("12 4111111111111111 12/26"): take, left to
      // right, the longest windows of whole groups that are cards.
      for (let from = first; from < last; ) {
        const to = longestCardWindow(groups, from, last);
        if (to === -1) {
          from++;
          continue;
        }
        found.push({ start: groups[from]!.start, end: groups[to]!.end, detector: 'credit-card' });
        from = to + 1;
      }
    }
    return found;
  },
};

/** The last group of the longest card that starts at group `first` and ends before `limit`, or -1. */
function longestCardWindow(groups: readonly { digits: string }[], first: number, limit: number): number {
  let digits = '';
  let longest = -1;
  for (let last = first; last < limit; last++) {
    digits += groups[last]!.digits;
    if (digits.length > CARD_MAX_DIGITS) break;
    if (digits.length >= CARD_MIN_DIGITS && isCardGrouping(groups.slice(first, last + 1)) && isCardNumber(digits)) longest = last;
  }
  return longest;
}

// ---- iban ----

// Country code, check digits, then the BBAN either unbroken or in groups of four (ISO 13616 paper form).
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])/g;

const iban: Detector = {
  id: 'iban',
  description: 'IBAN: the country’s length and an ISO 7064 MOD 97-10 check; upper case, unbroken or in groups of four',
  signals: Signal.IbanHead,
  find(text) {
    return matchesOf('iban', IBAN_CANDIDATE, text, (m) => {
      const length = ibanLength(m[0].slice(0, 2));
      if (length === undefined) return null;
      // A grouped IBAN may be followed by a word that looks like one more group: end at the country's length.
      let end = m.index;
      for (let chars = 0; chars < length && end < m.index + m[0].length; end++) {
        if (text.charCodeAt(end) !== 0x20) chars++;
      }
      if (end < m.index + m[0].length && text[end] !== ' ') return null;
      return isIban(text.slice(m.index, end).replaceAll(' ', '')) ? { start: m.index, end } : null;
    });
  },
};

// ---- us-ssn ----

const SSN_DASHED = /(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?!\w|-\d)/g;
// Nine bare digits are too common to mask on sight: only right after a label such as "SSN:",
// "customer_ssn": or "Social Security Number " (at most 20 non-digits between).
const SSN_LABELLED = /(?<![a-z])(?:ssn|social)\D{0,20}?(\d{3})(\d{2})(\d{4})(?!\d)/gi;

/** SSA issuance rules: area 001-665 or 667-899, group 01-99, serial 0001-9999. */
function isIssuableSsn(m: RegExpExecArray): boolean {
  const area = Number(m[1]);
  return area !== 0 && area !== 666 && area < 900 && m[2] !== '00' && m[3] !== '0000';
}

const usSsn: Detector = {
  id: 'us-ssn',
  description: 'US Social Security number: AAA-GG-SSSS, or 9 digits after an SSN label; valid by the SSA issuance rules',
  signals: Signal.SsnShape | Signal.NineDigits,
  find(text) {
    const dashed = matchesOf('us-ssn', SSN_DASHED, text, (m) => (isIssuableSsn(m) ? whole(m) : null));
    const labelled = matchesOf('us-ssn', SSN_LABELLED, text, (m) => (isIssuableSsn(m) ? trailing(m, 9) : null));
    return labelled.length === 0 ? dashed : [...dashed, ...labelled].sort((a, b) => a.start - b.start);
  },
};

// ---- email ----

const EMAIL =
  /(?<![\w%+.-])[\w%+-]+(?:\.[\w%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![\w-])/g;

const email: Detector = {
  id: 'email',
  description: 'Email address: local@domain with an alphabetic (or punycode) top-level domain',
  signals: Signal.At,
  find: (text) => matchesOf('email', EMAIL, text),
};

// ---- phone ----

// "+" country code, then digits with single spaces, dashes or parentheses between them.
const E164_RUN = /(?<![\w+])\+[1-9]\d*(?:(?:[ -]|[ -]?\(|\)[ -]?)\d+)*(?!\w)/g;
const E164_MIN_DIGITS = 8;
const E164_MAX_DIGITS = 15;
const NANP_DIGITS = 11;
// North American Numbering Plan: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, NXX NXX XXXX with N = 2-9,
// optionally after a country code 1. Ten bare digits are not taken: too many order numbers look so.
// Neither end may be glued to a word, a longer number or an address ("2001:db8::1 (212) …").
const NANP =
  /(?:(?<![\w.:+-]|\d[.-])1[ .-]?|(?<![\w.+-]|\d[.-]))(?:\([2-9]\d\d\)[ -]?[2-9]\d\d[ .-]|[2-9]\d\d([ .-])[2-9]\d\d\1)\d{4}(?!\w|[.-]\d|:\w)/g;

const phone: Detector = {
  id: 'phone',
  description: 'Phone number: E.164 (+ and 8-15 digits) or a punctuated North American number',
  signals: Signal.PlusDigits | Signal.NanpShape,
  find(text) {
    const northAmerican = matchesOf('phone', NANP, text);
    const international = matchesOf('phone', E164_RUN, text, (m) => {
      // A run of digit groups can carry on into the next number ("+44 20 7946 0958 192.168.0.1"):
      // "+1" numbers end at exactly 11 digits (NANP); others at the last whole group within E.164's
      // 15 digits that ends a token and does not begin a North American number.
      const groups = digitGroups(text, m.index, m.index + m[0].length);
      const countryOne = groups[0]!.digits.startsWith('1');
      let digits = 0;
      let end = -1;
      for (const group of groups) {
        digits += group.digits.length;
        if (digits > (countryOne ? NANP_DIGITS : E164_MAX_DIGITS)) break;
        if (!countryOne && northAmerican.some((n) => n.start <= group.start && group.start < n.end)) break;
        if (endsToken(text, group.end) && (countryOne ? digits === NANP_DIGITS : digits >= E164_MIN_DIGITS)) end = group.end;
      }
      return end === -1 ? null : { start: m.index, end };
    });
    // "+1 (415) 555-2671" is both: keep the international match.
    const alsoNorthAmerican = northAmerican.filter((n) => !international.some((i) => n.start < i.end && i.start < n.end));
    return alsoNorthAmerican.length === 0 ? international : [...international, ...alsoNorthAmerican].sort((a, b) => a.start - b.start);
  },
};

// ---- ipv4, ipv6 ----

// Not inside a longer dotted sequence, so version strings such as 1.2.3.4.5 do not qualify.
const IPV4_CANDIDATE = /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)/g;
// Hextets and at least two colons, with an optional dotted-quad tail.
const IPV6_CANDIDATE = /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:]|\.\w)/g;

const ipv4: Detector = {
  id: 'ipv4',
  description: 'IPv4 address: four octets 0-255 without leading zeros, not part of a longer dotted sequence',
  signals: Signal.DottedDigits,
  find: (text) => matchesOf('ipv4', IPV4_CANDIDATE, text, (m) => (isIPv4(m[0]) ? whole(m) : null)),
};

const ipv6: Detector = {
  id: 'ipv6',
  description: 'IPv6 address: full, "::"-compressed or with a dotted-quad tail (RFC 4291 §2.2)',
  signals: Signal.ManyColons,
  find: (text) =>
    // The unspecified address "::" alone carries nothing and is mostly a PostgreSQL cast.
    matchesOf('ipv6', IPV6_CANDIDATE, text, (m) => (m[0] !== '::' && isIPv6(m[0]) ? whole(m) : null)),
};

// ---- AWS keys ----

const AWS_ACCESS_KEY = /\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z2-7]{16}\b/g;
// A secret key is 40 characters of base64 with nothing to recognise it by: only after its label.
const AWS_SECRET_KEY = /(?:aws[_-]?)?secret[_-]?access[_-]?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi;

const awsAccessKey: Detector = {
  id: 'aws-access-key',
  description: 'AWS access key id: a known four-letter prefix and 16 base32 characters',
  signals: Signal.Token20,
  find: (text) => matchesOf('aws-access-key', AWS_ACCESS_KEY, text),
};

const awsSecretKey: Detector = {
  id: 'aws-secret-key',
  description: 'AWS secret access key: 40 base64 characters after an aws_secret_access_key label (the label stays)',
  signals: Signal.Token40,
  find: (text) => matchesOf('aws-secret-key', AWS_SECRET_KEY, text, (m) => trailing(m, 40)),
};

// ---- jwt ----

const JWT_CANDIDATE = /(?<![\w-])eyJ[\w-]*\.[\w-]+\.[\w-]*/g;

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const jwt: Detector = {
  id: 'jwt',
  description: 'JSON Web Token: three base64url segments, a header with "alg" and a JSON object payload',
  signals: Signal.JsonBase64,
  find: (text) =>
    matchesOf('jwt', JWT_CANDIDATE, text, (m) => {
      const [header, payload] = m[0].split('.');
      const decoded = decodeJsonObject(header!);
      return decoded && typeof decoded.alg === 'string' && decodeJsonObject(payload!) ? whole(m) : null;
    }),
};

// ---- pem-private-key ----

const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |OPENSSH |ENCRYPTED |DSA )?)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;

const pemPrivateKey: Detector = {
  id: 'pem-private-key',
  description: 'PEM private key: the whole block from BEGIN to the matching END line',
  signals: Signal.DashB,
  find: (text) => matchesOf('pem-private-key', PEM_PRIVATE_KEY, text),
};

export const contentDetectors: readonly Detector[] = [
  creditCard,
  iban,
  usSsn,
  email,
  phone,
  ipv4,
  ipv6,
  awsAccessKey,
  awsSecretKey,
  jwt,
  pemPrivateKey,
];

export function detectorById(id: string): Detector | undefined {
  return contentDetectors.find((detector) => detector.id === id);
}
