interface Network {
  /** Inclusive ranges of the number's leading digits (its IIN prefix). */
  readonly prefixes: readonly (readonly [low: string, high: string])[];
  readonly lengths: readonly number[];
}

/** The card networks' issuer prefixes, with the lengths each network issues. */
const NETWORKS: readonly Network[] = [
  { prefixes: [['4', '4']], lengths: [13, 16, 19] }, // Visa
  { prefixes: [['51', '55'], ['2221', '2720']], lengths: [16] }, // Mastercard
  { prefixes: [['34', '34'], ['37', '37']], lengths: [15] }, // American Express
  { prefixes: [['6011', '6011'], ['644', '649'], ['65', '65']], lengths: [16, 17, 18, 19] }, // Discover
  { prefixes: [['3528', '3589']], lengths: [16, 17, 18, 19] }, // JCB
  { prefixes: [['300', '305'], ['36', '36'], ['38', '38']], lengths: [14, 15, 16, 17, 18, 19] }, // Diners Club
  { prefixes: [['62', '62']], lengths: [16, 17, 18, 19] }, // UnionPay
];

export const CARD_MIN_DIGITS = 13;
export const CARD_MAX_DIGITS = 19;

/** A payment card number (digits only): a known network's prefix and length, and a passing Luhn check. */
export function isCardNumber(digits: string): boolean {
  return hasKnownIssuer(digits) && luhnValid(digits);
}

function hasKnownIssuer(digits: string): boolean {
  return NETWORKS.some(
    (network) =>
      network.lengths.includes(digits.length) &&
      network.prefixes.some(([low, high]) => {
        const prefix = digits.slice(0, low.length);
        return prefix >= low && prefix <= high;
      }),
  );
}

/** ISO/IEC 7812-1 Luhn: double every second digit from the right; the sum must end in 0. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
