/** IBAN length per country, from the SWIFT IBAN registry (ISO 13616). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27,
  GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24,
  ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24,
  TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** The IBAN length of a country, or undefined when the country issues none. */
export function ibanLength(countryCode: string): number | undefined {
  return Object.hasOwn(IBAN_LENGTHS, countryCode) ? IBAN_LENGTHS[countryCode] : undefined;
}

/** An IBAN in electronic form (no spaces, upper case): the country's length and ISO 7064 MOD 97-10. */
export function isIban(compact: string): boolean {
  return compact.length === ibanLength(compact.slice(0, 2)) && /^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact) && mod97(compact) === 1;
}

/**
 * ISO 7064 MOD 97-10 as ISO 13616 applies it: the first four characters move to the end, letters
 * become 10..35, and the resulting number taken mod 97 must be 1. Folded one character at a time so
 * the number never leaves the safe-integer range.
 */
function mod97(compact: string): number {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    remainder = c <= 0x39 ? (remainder * 10 + (c - 0x30)) % 97 : (remainder * 100 + (c - 0x41 + 10)) % 97;
  }
  return remainder;
}
