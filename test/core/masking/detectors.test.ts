import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentDetectors, detectorById, type Detector } from '../../../core/masking/detectors.js';
import { maskBytesInto } from '../../../core/masking/mask-text.js';
import { scanSignals, scanUtf8Signals } from '../../../core/masking/text-signals.js';

function detector(id: string): Detector {
  const found = detectorById(id);
  assert.ok(found, `no detector ${id}`);
  return found;
}

/** The substrings a detector finds in a text. */
function found(id: string, text: string): string[] {
  return detector(id).find(text).map((m) => text.slice(m.start, m.end));
}

/** Each valid sample is found whole, alone and inside a sentence; no near-miss yields anything. */
function detects(id: string, valid: readonly string[], nearMisses: readonly string[]): void {
  it('finds valid values, alone and in text', () => {
    for (const sample of valid) {
      assert.deepEqual(found(id, sample), [sample], `${id} alone: ${sample}`);
      assert.deepEqual(found(id, `value: ${sample}, end`), [sample], `${id} in text: ${sample}`);
    }
  });
  it('ignores near misses', () => {
    for (const sample of nearMisses) assert.deepEqual(found(id, sample), [], `${id} near miss: ${sample}`);
  });
  it('lets valid values through the masking prefilter, so that a field holding one is masked', () => {
    const { signals } = detector(id);
    assert.ok(signals !== undefined, `${id} has a prefilter`);
    for (const sample of valid) {
      for (const text of [sample, `value: ${sample}, end`]) {
        assert.notEqual(scanSignals(text) & signals, 0, `${id} signals of ${JSON.stringify(text)}`);
        const bytes = Buffer.from(text, 'utf8');
        assert.notEqual(scanUtf8Signals(bytes) & signals, 0, `${id} UTF-8 signals of ${JSON.stringify(text)}`);
        const counts: Record<string, number> = {};
        const masked = maskBytesInto(bytes, contentDetectors, counts);
        assert.ok(!masked.toString('utf8').includes(sample), `${id} survived in ${JSON.stringify(masked.toString('utf8'))}`);
        assert.ok(counts[id] === 1, `${id} counted in ${JSON.stringify(counts)} for ${JSON.stringify(text)}`);
      }
    }
  });
}

/** Ordinary row content no detector may take for sensitive data. */
const ORDINARY = [
  'ORD-2026-00012345',
  'order 20261126000123 shipped',
  '2026-11-26 17:30:00',
  '2026-11-26 17:30:00.123456+00',
  '1764178200000',
  '1.2.3.4.5',
  'v2.13.1',
  '550e8400-e29b-41d4-a716-446655440000',
  '49.99',
  '0.41111111111111112',
  '1234 Washington Blvd, Springfield, IL 62704',
  'SELECT x::text FROM t',
];

describe('content detectors', () => {
  it('have unique ids, descriptions, and are found by id', () => {
    const ids = contentDetectors.map((d) => d.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const d of contentDetectors) {
      assert.equal(detectorById(d.id), d);
      assert.ok(d.description.length > 10);
    }
    assert.equal(detectorById('nope'), undefined);
  });

  it('find nothing in ordinary row content', () => {
    for (const d of contentDetectors) {
      for (const text of ORDINARY) assert.deepEqual(d.find(text), [], `${d.id} in ${text}`);
    }
  });

  it('report matches in text order with their detector id', () => {
    const text = 'a 4111111111111111 b 5555 5555 5555 4444 c';
    assert.deepEqual(detector('credit-card').find(text), [
      { start: 2, end: 18, detector: 'credit-card' },
      { start: 21, end: 40, detector: 'credit-card' },
    ]);
  });
});

describe('credit-card', () => {
  detects(
    'credit-card',
    [
      '4111111111111111',
      '4111 1111 1111 1111',
      '4111-1111-1111-1111',
      '4222222222222', // Visa, 13 digits
      '5555555555554444',
      '2223003122003222', // Mastercard 2-series
      '378282246310005',
      '3782 822463 10005', // Amex 4-6-5
      '6011111111111117',
      '6445644564456445', // Discover 644-649
      '3530111333300000', // JCB
      '30569309025904', // Diners, 14 digits
      '6200000000000005', // UnionPay
    ],
    [
      '4111111111111112', // Luhn fails
      '1000000000000008', // Luhn passes, no issuer starts with 1
      '411111111111111', // Visa has no 15-digit cards
      '41111111111111110000', // 20 digits
      '4111 111 1111 11111', // not a card grouping
      '555-234-5678 555-234-5679', // two phone numbers
      '0.4111111111111111',
      '4111111111111111.5',
      'tok_4111111111111111',
    ],
  );

  it('separates a card from a number after it', () => {
    assert.deepEqual(found('credit-card', '4111111111111111 12/26'), ['4111111111111111']);
    assert.deepEqual(found('credit-card', '4111 1111 1111 1111 2026'), ['4111 1111 1111 1111']);
    assert.deepEqual(found('credit-card', '4111111111111111 5555555555554444'), ['4111111111111111', '5555555555554444']);
  });
});

describe('iban', () => {
  detects(
    'iban',
    [
      'GB82WEST12345698765432',
      'GB82 WEST 1234 5698 7654 32',
      'DE89370400440532013000',
      'DE89 3704 0044 0532 0130 00',
      'FR1420041010050500013M02606',
      'NL91ABNA0417164300',
      'BE68539007547034',
      'CH9300762011623852957',
      'NO9386011117947', // the shortest, 15
      'SA0380000000608010167519',
      'AE070331234567890123456',
      'TR330006100519786457841326',
      'BR1800360305000010009795493C1',
      'MT84MALT011000012345MTLCAST001S',
    ],
    [
      'GB83WEST12345698765432', // check digits off by one
      'DE89370400440532013001', // one BBAN digit changed
      'GB82WEST1234569876543', // a character short
      'GB82WEST123456987654321', // a character long
      'XX82WEST12345698765432', // no such country
      'gb82west12345698765432', // lower case is not taken
      'GB82 WEST 1234 5698 7654 3 2',
    ],
  );

  it('ends a grouped IBAN at its country length when a word follows', () => {
    assert.deepEqual(found('iban', 'BE68 5390 0754 7034 PAID'), ['BE68 5390 0754 7034']);
  });
});

describe('us-ssn', () => {
  detects(
    'us-ssn',
    ['123-45-6789', '001-01-0001', '665-99-9999', '667-12-3456', '899-12-3456'],
    [
      '000-12-3456', // area 000
      '666-12-3456', // area 666
      '900-12-3456', // areas 900-999
      '999-12-3456',
      '123-00-4567', // group 00
      '123-45-0000', // serial 0000
      '123456789', // nine bare digits without a label
      '123-45-67890',
      '1123-45-6789',
      'x123-45-6789',
    ],
  );

  it('takes nine bare digits only after an SSN label', () => {
    assert.deepEqual(found('us-ssn', 'SSN: 123456789'), ['123456789']);
    assert.deepEqual(found('us-ssn', '{"customer_ssn":"123456789"}'), ['123456789']);
    assert.deepEqual(found('us-ssn', 'Social Security Number 123456789'), ['123456789']);
    assert.deepEqual(found('us-ssn', 'ssn 666123456'), []);
    assert.deepEqual(found('us-ssn', 'lessn 123456789'), []);
    assert.deepEqual(found('us-ssn', 'order 123456789'), []);
  });
});

describe('email', () => {
  detects(
    'email',
    ['john.doe@example.com', 'first+tag@sub.example.co.uk', 'o_brien%x@mail.example.org', 'user@xn--80ak6aa92e.xn--p1ai', 'A.B-C@EXAMPLE.IO'],
    ['john@localhost', 'john@example.c', '@example.com', 'john@.com', 'john@example.c0m', 'john.@example', 'no at sign here'],
  );

  it('leaves trailing punctuation out', () => {
    assert.deepEqual(found('email', '(mail john@example.com.)'), ['john@example.com']);
    assert.deepEqual(found('email', "'john@example.com'"), ['john@example.com']);
  });
});

describe('phone', () => {
  detects(
    'phone',
    [
      '+14155552671',
      '+1 (415) 555-2671',
      '+44 20 7946 0958',
      '+49 30 1234567',
      '+44 (0)20 7946 0958',
      '(415) 555-2671',
      '(415)555-2671',
      '415-555-2671',
      '415.555.2671',
      '415 555 2671',
      '1-800-555-0199',
    ],
    [
      '+1234567', // 7 digits
      '+1234567890123456', // 16 digits
      '123-456-7890', // area code starts with 1
      '415-155-2671', // exchange starts with 1
      '4155552671', // ten bare digits
      '415-555-26710',
      '192.168.100.200',
      '2026-11-26 17:30:00',
      '4111 1111 1111 1111',
      'expires 12/26',
    ],
  );

  it('stops an E.164 number at 15 digits when numbers follow', () => {
    assert.deepEqual(found('phone', '+44 20 7946 0958 2026-11-26'), ['+44 20 7946 0958']);
  });
});

describe('ipv4', () => {
  detects(
    'ipv4',
    ['192.168.0.1', '10.0.0.255', '0.0.0.0', '255.255.255.255', '8.8.8.8'],
    ['256.1.1.1', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '1.2.3', '192.168.0.1.5', 'v1.2.3.4', '1.2.3.4a'],
  );

  it('takes an address before a port or a full stop', () => {
    assert.deepEqual(found('ipv4', 'connect 10.0.0.1:5432.'), ['10.0.0.1']);
  });
});

describe('ipv6', () => {
  detects(
    'ipv6',
    [
      '2001:db8::1',
      'fe80::1',
      '::1',
      '1::',
      '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
      '1:2:3:4:5:6:7:8',
      '::ffff:192.0.2.1',
      '64:ff9b::192.0.2.33',
      '0:0:0:0:0:ffff:1.2.3.4',
    ],
    ['17:30:00', '12:34:56.789', '00:1A:2B:3C:4D:5E', '1:2:3:4:5:6:7:8:9', '1::2::3', '::', "'abc'::text", '1:2:3:4:5:6:7::8', '12345::1', '::ffff:1.2.3'],
  );
});

describe('aws keys', () => {
  detects(
    'aws-access-key',
    ['AKIAIOSFODNN7EXAMPLE', 'ASIAY34FZKBOKMUTVV7A'],
    ['AKIAIOSFODNN7EXAMPL', 'AKIAIOSFODNN7EXAMPLE1', 'AKIA1OSFODNN7EXAMPLE', 'XKIAIOSFODNN7EXAMPLE', 'akiaiosfodnn7example'],
  );

  it('takes a secret key only after its label, and leaves the label', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    assert.deepEqual(found('aws-secret-key', `aws_secret_access_key = ${secret}`), [secret]);
    assert.deepEqual(found('aws-secret-key', `AWS_SECRET_ACCESS_KEY=${secret}`), [secret]);
    assert.deepEqual(found('aws-secret-key', `{"SecretAccessKey": "${secret}"}`), [secret]);
    assert.deepEqual(found('aws-secret-key', `key ${secret}`), []);
    assert.deepEqual(found('aws-secret-key', `aws_secret_access_key = ${secret}X`), []);
  });
});

describe('jwt', () => {
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  detects(
    'jwt',
    [
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      `${segment({ alg: 'none' })}.${segment({ sub: '1' })}.`,
      `${segment({ alg: 'ES256', kid: 'k-1' })}.${segment({ scope: 'read write' })}.sig_-nature`,
    ],
    [
      `${segment({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.sig`,
      `${segment({ typ: 'JWT' })}.${segment({ sub: '1' })}.sig`, // no alg
      `${segment({ alg: 'HS256' })}.${segment([1, 2])}.sig`, // payload not an object
      'eyJ.abc.def',
      `${segment({ alg: 'HS256' })}.${segment({ sub: '1' })}`, // two segments
    ],
  );
});

describe('pem-private-key', () => {
  const block = (label: string) => `-----BEGIN ${label}-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\nq7BFUpkGp3+XQmV=\n-----END ${label}-----`;
  detects(
    'pem-private-key',
    ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'DSA PRIVATE KEY'].map(block),
    [
      block('PUBLIC KEY'),
      block('CERTIFICATE'),
      '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END EC PRIVATE KEY-----',
      '-----BEGIN PRIVATE KEY-----\nMIIB (truncated)',
    ],
  );

  it('takes a key escaped inside a JSON string', () => {
    const text = '{"key":"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n"}';
    assert.deepEqual(found('pem-private-key', text), ['-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----']);
  });
});
