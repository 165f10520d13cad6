import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentDetectors, type Detector } from '../../../core/masking/detectors.js';
import { maskBytes, maskBytesInto, maskText } from '../../../core/masking/mask-text.js';
import { mulberry32 } from '../../helpers/prng.js';

/** Values of every detector, as they would sit in data. */
const PLANTABLE: Readonly<Record<string, readonly string[]>> = {
  'credit-card': ['4111111111111111', '5555 5555 5555 4444', '3782-822463-10005', '6011111111111117'],
  iban: ['GB82WEST12345698765432', 'DE89 3704 0044 0532 0130 00', 'NO9386011117947'],
  'us-ssn': ['123-45-6789', '078-05-1121'],
  email: ['john.doe@example.com', 'a+b@mail.example.co.uk'],
  phone: ['+1 (415) 555-2671', '+44 20 7946 0958', '(212) 555-0123', '312-555-0199'],
  ipv4: ['192.168.0.1', '10.20.30.40'],
  ipv6: ['2001:db8::1', '::ffff:192.0.2.1', 'fe80::1ff:fe23:4567:890a'],
  'aws-access-key': ['AKIAIOSFODNN7EXAMPLE'],
  'aws-secret-key': ['aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
  jwt: ['eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', '/callback/eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.sig'],
  'pem-private-key': ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIO\n-----END EC PRIVATE KEY-----'],
};

/** What stays of a planted value: the secret key's label. */
const secretPart = (detector: string, value: string) => (detector === 'aws-secret-key' ? value.slice(value.indexOf('=') + 1) : value);

describe('maskText', () => {
  it('masks mixed text and counts per detector', () => {
    const text = 'Card 4111 1111 1111 1111 for john@example.com (ssn 123-45-6789), ip 10.0.0.1, backup jane@example.org';
    const masked = maskText(text, contentDetectors);
    assert.equal(masked.text, 'Card [masked:credit-card …1111] for [masked:email] (ssn [masked:us-ssn]), ip [masked:ipv4], backup [masked:email]');
    assert.deepEqual(masked.counts, { 'credit-card': 1, email: 2, 'us-ssn': 1, ipv4: 1 });
  });

  it('returns the input and no counts when nothing matched', () => {
    for (const text of ['', 'Springfield', 'ORD-2026-00012345 paid 49.99 at 2026-11-26 17:30:00', '4111111111111112', 'ssn 000-12-3456']) {
      const masked = maskText(text, contentDetectors);
      assert.equal(masked.text, text);
      assert.deepEqual(masked.counts, {});
      assert.ok(Object.isFrozen(masked.counts));
    }
  });

  it('masks every planted sample, so the prefilter lets each through', () => {
    for (const [detector, values] of Object.entries(PLANTABLE)) {
      for (const value of values) {
        const masked = maskText(`x ${value} y`, contentDetectors);
        assert.deepEqual(masked.counts, { [detector]: 1 }, value);
        assert.ok(!masked.text.includes(secretPart(detector, value)), value);
      }
    }
  });

  it('lets the longest of overlapping matches win, then the earliest', () => {
    // The IPv4 tail of a mapped IPv6 address; an E.164 number that is also North American.
    assert.deepEqual(maskText('::ffff:192.0.2.1', contentDetectors), { text: '[masked:ipv6]', counts: { ipv6: 1 } });
    const overlapping: Detector[] = [
      { id: 'short', description: 'short', find: () => [{ start: 0, end: 3, detector: 'short' }] },
      { id: 'long', description: 'long', find: () => [{ start: 2, end: 8, detector: 'long' }] },
      { id: 'tie', description: 'tie', find: () => [{ start: 4, end: 10, detector: 'tie' }] },
    ];
    assert.deepEqual(maskText('0123456789', overlapping), { text: '01[masked:long]89', counts: { long: 1 } });
  });

  it('runs detectors without a prefilter on every text', () => {
    const everything: Detector = { id: 'x', description: 'every x', find: (t) => [...t.matchAll(/x/g)].map((m) => ({ start: m.index, end: m.index + 1, detector: 'x' })) };
    assert.deepEqual(maskText('a x b', [everything]), { text: 'a [masked:x] b', counts: { x: 1 } });
  });

  it('keeps the last four digits of a card only', () => {
    assert.equal(maskText('3782-822463-10005', contentDetectors).text, '[masked:credit-card …0005]');
  });

  it('removes planted values at random places in random text and counts them (property)', () => {
    const random = mulberry32(20261126);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const fillers = [
      () => pick(['the', 'order', 'shipped', 'Müller', 'Łódź', 'paid', 'note:', 'café', 'ok']),
      () => String(Math.floor(random() * 1000)),
      () => `${Math.floor(random() * 1000)}.${Math.floor(random() * 100)}`,
      () => `2026-${1 + Math.floor(random() * 12)}-${10 + Math.floor(random() * 18)} 17:30:00`,
      () => `ORD-2026-${100000 + Math.floor(random() * 900000)}`,
      () => '550e8400-e29b-41d4-a716-446655440000',
      () => 'v1.2.3.4.5',
    ];
    const detectors = Object.keys(PLANTABLE);
    for (let run = 0; run < 300; run++) {
      const words: string[] = [];
      for (let i = Math.floor(random() * 30); i > 0; i--) words.push(pick(fillers)());
      const planted: [detector: string, value: string][] = [];
      for (let i = 1 + Math.floor(random() * 4); i > 0; i--) {
        const detector = pick(detectors);
        const value = pick(PLANTABLE[detector]!);
        planted.push([detector, value]);
        words.splice(Math.floor(random() * (words.length + 1)), 0, value);
      }
      const text = words.join(pick([' ', ' | ', '\t', ', ']));

      const masked = maskText(text, contentDetectors);
      const expected: Record<string, number> = {};
      for (const [detector, value] of planted) {
        expected[detector] = (expected[detector] ?? 0) + 1;
        assert.ok(!masked.text.includes(secretPart(detector, value)), `${value} survived in ${JSON.stringify(masked.text)}`);
      }
      assert.deepEqual(masked.counts, expected, JSON.stringify(text));
    }
  });
});

describe('maskBytes', () => {
  it('returns the same Buffer when nothing matched', () => {
    const plain = Buffer.from('Zoë Müller, 1234 Hauptstraße, 2026-11-26 17:30:00', 'utf8');
    const masked = maskBytes(plain, contentDetectors);
    assert.equal(masked.bytes, plain);
    assert.deepEqual(masked.counts, {});
  });

  it('masks UTF-8 text around multi-byte characters', () => {
    const masked = maskBytes(Buffer.from('Zoë → zoe@example.com ✓', 'utf8'), contentDetectors);
    assert.equal(masked.bytes.toString('utf8'), 'Zoë → [masked:email] ✓');
    assert.deepEqual(masked.counts, { email: 1 });
  });
});

describe('maskBytesInto', () => {
  it('returns the same Buffer and counts nothing when nothing matched', () => {
    const counts: Record<string, number> = { email: 2 };
    for (const text of ['', 'Zoë Müller', '2026-11-26 17:30:00.123456+00', 'ORD-2026-00012345', '4111111111111112']) {
      const plain = Buffer.from(text, 'utf8');
      assert.equal(maskBytesInto(plain, contentDetectors, counts), plain, text);
    }
    assert.deepEqual(counts, { email: 2 });
  });

  it('adds to the counts it is given, field after field', () => {
    const counts: Record<string, number> = {};
    const fields = ['a@example.com', 'Springfield', 'b@example.com 123-45-6789', '4111 1111 1111 1111'];
    const out = fields.map((field) => maskBytesInto(Buffer.from(field, 'utf8'), contentDetectors, counts).toString('utf8'));
    assert.deepEqual(out, ['[masked:email]', 'Springfield', '[masked:email] [masked:us-ssn]', '[masked:credit-card …1111]']);
    assert.deepEqual(counts, { email: 2, 'us-ssn': 1, 'credit-card': 1 });
  });

  it('counts several hits of different detectors in one field', () => {
    const counts: Record<string, number> = { ipv4: 1 };
    const field = Buffer.from('→ 10.0.0.1, +44 20 7946 0958, 10.0.0.2 and GB82WEST12345698765432 ✓', 'utf8');
    const masked = maskBytesInto(field, contentDetectors, counts);
    assert.equal(masked.toString('utf8'), '→ [masked:ipv4], [masked:phone], [masked:ipv4] and [masked:iban] ✓');
    assert.deepEqual(counts, { ipv4: 3, phone: 1, iban: 1 });
  });

  it('masks a value that fills its field or touches either end, and no half of one split between fields', () => {
    for (const [detector, values] of Object.entries(PLANTABLE)) {
      for (const value of values) {
        for (const text of [value, `${value} y`, `x ${value}`]) {
          const counts: Record<string, number> = {};
          const masked = maskBytesInto(Buffer.from(text, 'utf8'), contentDetectors, counts).toString('utf8');
          assert.ok(!masked.includes(secretPart(detector, value)), `${value} survived in ${JSON.stringify(masked)}`);
          assert.deepEqual(counts, { [detector]: 1 }, JSON.stringify(text));
        }
      }
    }
    // Each field is a text of its own: the halves of a value are neither masked nor made to mask their neighbours.
    for (const [head, tail] of [['4111 1111', ' 1111 1111'], ['123-45', '-6789'], ['john.doe@', 'example.com'], ['+44 20', ' 7946 0958']] as const) {
      const counts: Record<string, number> = {};
      for (const half of [head, tail]) {
        const bytes = Buffer.from(half, 'utf8');
        assert.equal(maskBytesInto(bytes, contentDetectors, counts), bytes, half);
      }
      assert.deepEqual(counts, {}, `${head}|${tail}`);
    }
  });

  it('masks each field as maskBytes does (property)', () => {
    const random = mulberry32(11);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['Müller', 'paid', ' ', '-', '.', ':', '+', '(', ')', '2026', '11', '123', '4567', '00012345', 'ORD', 'GB', '@', ...Object.values(PLANTABLE).flat()];
    const counts: Record<string, number> = {};
    const expected: Record<string, number> = {};
    for (let n = 0; n < 2000; n++) {
      let text = '';
      for (let i = Math.floor(random() * 8); i > 0; i--) text += pick(pieces);
      const bytes = Buffer.from(text, 'utf8');
      const whole = maskBytes(bytes, contentDetectors);
      const masked = maskBytesInto(bytes, contentDetectors, counts);
      assert.equal(masked === bytes, whole.bytes === bytes, JSON.stringify(text));
      assert.equal(masked.toString('utf8'), whole.bytes.toString('utf8'), JSON.stringify(text));
      for (const [id, count] of Object.entries(whole.counts)) expected[id] = (expected[id] ?? 0) + count;
    }
    assert.deepEqual(counts, expected);
  });
});
