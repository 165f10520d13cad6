/**
 * JSON Canonicalization Scheme (RFC 8785). Ledger entries are hashed over this form, so two
 * parties that hold the same entry always compute the same bytes.
 *
 * RFC 8785 §3.2.2.3 serializes numbers exactly as ECMAScript's Number.prototype.toString, and
 * §3.2.3 sorts object keys by their UTF-16 code units: both are what JSON.stringify and the
 * default Array.prototype.sort already do.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
}
