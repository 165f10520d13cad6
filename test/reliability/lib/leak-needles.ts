/**
 * What a leak scan looks for: each secret or PII value in every form that would still give it
 * away: as written, JSON-escaped, in other spellings (a card without its spaces), as hex, and
 * inside base64 at any alignment.
 */
export interface Needle {
  /** Which value this is and in what form, for the report; never the value itself. */
  readonly label: string;
  readonly bytes: Buffer;
}

/** Every form of `value` worth searching for; `spellings` are other ways to write the same value. */
export function needlesFor(label: string, value: string, spellings: readonly string[] = []): Needle[] {
  const forms = new Map<string, Buffer>();
  for (const [index, text] of [value, ...spellings].entries()) {
    const name = index === 0 ? label : `${label} (spelled ${index})`;
    forms.set(name, Buffer.from(text, 'utf8'));
    forms.set(`${name}, JSON-escaped`, Buffer.from(JSON.stringify(text).slice(1, -1), 'utf8'));
    forms.set(`${name}, hex`, Buffer.from(Buffer.from(text, 'utf8').toString('hex'), 'utf8'));
    for (const [shift, encoded] of base64Fingerprints(Buffer.from(text, 'utf8')).entries()) {
      forms.set(`${name}, base64 (alignment ${shift})`, Buffer.from(encoded, 'utf8'));
      forms.set(`${name}, base64url (alignment ${shift})`, Buffer.from(encoded.replaceAll('+', '-').replaceAll('/', '_'), 'utf8'));
    }
  }
  // JSON escaping leaves most values unchanged: search each distinct byte string once.
  const seen = new Set<string>();
  return [...forms].flatMap(([formLabel, bytes]) => {
    const key = bytes.toString('hex');
    if (seen.has(key)) return [];
    seen.add(key);
    return [{ label: formLabel, bytes }];
  });
}

/** Raw bytes (key material) as they are, as hex, and inside base64 at any alignment. */
export function binaryNeedles(label: string, bytes: Buffer): Needle[] {
  return [
    { label, bytes },
    { label: `${label}, hex`, bytes: Buffer.from(bytes.toString('hex'), 'utf8') },
    ...base64Fingerprints(bytes).map((encoded, shift) => ({ label: `${label}, base64 (alignment ${shift})`, bytes: Buffer.from(encoded, 'utf8') })),
  ];
}

/**
 * Base64 encodes 3 bytes as 4 characters, so a value inside a longer base64 text is spelled one
 * of three ways depending on where it starts. For each start, the characters that depend only on
 * the value: drop the 0-2 leading bytes that share a group with what comes before, and the
 * trailing partial group.
 */
function base64Fingerprints(value: Buffer): string[] {
  return [0, 1, 2].map((skip) => {
    const aligned = value.subarray(skip);
    const whole = aligned.subarray(0, aligned.length - (aligned.length % 3));
    return whole.toString('base64');
  });
}
