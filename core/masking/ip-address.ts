/**
 * Textual IP address validation, written here rather than taken from node:net so that core/ keeps
 * away from the networking module altogether (test/architecture.test.ts). It accepts what
 * net.isIPv4 and net.isIPv6 accept, minus IPv6 zone ids ("%eth0"), which detection leaves in place.
 */

const OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

/** Dotted-quad IPv4: four decimal octets 0..255, no leading zeros. */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => OCTET.test(part));
}

/**
 * RFC 4291 §2.2: eight hextets, or fewer with one "::" standing for at least one zero hextet; the
 * last 32 bits may be written as a dotted quad.
 */
export function isIPv6(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const compressed = halves.length === 2;
  const parts = [...hextetsOf(halves[0]!), ...(compressed ? hextetsOf(halves[1]!) : [])];
  // A dotted quad can only end the address, so "1.2.3.4::" is not one.
  const quadAllowedAt = compressed && halves[1] === '' ? -1 : parts.length - 1;

  let hextets = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (HEXTET.test(part)) hextets += 1;
    else if (i === quadAllowedAt && isIPv4(part)) hextets += 2;
    else return false;
  }
  return compressed ? hextets <= 7 : hextets === 8;
}

function hextetsOf(half: string): string[] {
  return half === '' ? [] : half.split(':');
}
