import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import { contentDetectors } from '../../../core/masking/detectors.js';
import { maskBytes } from '../../../core/masking/mask-text.js';
import { StreamMasker } from '../../../core/masking/stream-masker.js';
import { mulberry32 } from '../../helpers/prng.js';

interface Streamed {
  output: Buffer;
  pieces: Buffer[];
  masker: StreamMasker;
}

/** Pushes `input` in pieces of the sizes `nextSize` gives (0 for an empty chunk), then ends the stream. */
function stream(input: Buffer, nextSize: () => number, masker = new StreamMasker(contentDetectors)): Streamed {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const size = Math.min(nextSize(), input.length - at);
    pieces.push(masker.push(input.subarray(at, at + size)));
    at += size;
  }
  pieces.push(masker.end());
  return { output: Buffer.concat(pieces), pieces, masker };
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const KEY_BODY = 'MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naIsmIF/P2JLDR9MUk2nIu5jbkcbJvT8xyLlw+NX1vv7ShVuxi9AqGEcdlPhN4BlK';

/** Values each detector masks, as they would sit in command output. */
const VALUES: readonly string[] = [
  'john.doe@example.com',
  'zoë@exämple.de is not ascii but a+b@mail.example.co.uk is',
  '4111 1111 1111 1111',
  '5555555555554444',
  '3782-822463-10005',
  '123-45-6789',
  'GB82 WEST 1234 5698 7654 32',
  'DE89370400440532013000',
  '192.168.0.1',
  '2001:db8::1',
  '+44 20 7946 0958',
  '(212) 555-0123',
  'AKIAIOSFODNN7EXAMPLE',
];

/** Values that cross line breaks. */
const MULTI_LINE: readonly string[] = [
  'SSN:\n123456789',
  `aws_secret_access_key =\r\n  ${SECRET}`,
  `-----BEGIN RSA PRIVATE KEY-----\n${KEY_BODY}\n-----END RSA PRIVATE KEY-----`,
];

const WORDS = ['total', 'drwxr-xr-x', 'root', '4096', 'Nov', '26', '17:30', 'café', 'naïve', '漢字', 'テスト', '😀', '🎉ok', 'v1.2.3', '-rw-r--r--', '$'];
const BREAKS = ['\n', '\n', '\n', '\r\n', '\r'];

/** Shell-like output: lines of words with values among them, some values across lines. */
function mixedText(random: () => number, lines: number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let text = '';
  for (let line = 0; line < lines; line++) {
    const words: string[] = [];
    for (let i = Math.floor(random() * 12); i > 0; i--) words.push(random() < 0.15 ? pick(VALUES) : pick(WORDS));
    if (random() < 0.05) words.push(pick(MULTI_LINE));
    text += words.join(pick([' ', '  ', '\t', ', '])) + pick(BREAKS);
  }
  return text;
}

/** Chunk sizes from 0 (an empty chunk) to a limit picked per run, from single bytes to more than maxHold. */
function chunkSizes(random: () => number, limits = [1, 2, 5, 16, 100, 1000, 10_000]): () => number {
  const limit = limits[Math.floor(random() * limits.length)]!;
  return () => Math.floor(random() * (limit + 1));
}

/** For a megabyte: pushing it a few bytes at a time would make a slow test. */
const BULK_LIMITS = [300, 1000, 5000, 20_000, 100_000];

describe('StreamMasker', () => {
  it('masks a stream as maskBytes masks it whole, however it is cut (property)', () => {
    const random = mulberry32(20261126);
    const seen = new Set<string>();
    for (let run = 0; run < 150; run++) {
      const input = utf8(mixedText(random, 60));
      const expected = maskBytes(input, contentDetectors);
      const { output, pieces, masker } = stream(input, chunkSizes(random));
      assert.equal(output.toString('utf8'), expected.bytes.toString('utf8'), `run ${run}`);
      assert.deepEqual(masker.counts(), expected.counts, `run ${run}`);
      for (const piece of pieces) assert.ok(isUtf8(piece), `run ${run}: a piece splits a character`);
      for (const id of Object.keys(expected.counts)) seen.add(id);
    }
    // The texts held something of every kind, so the comparison above is not vacuous.
    const kinds = ['aws-access-key', 'aws-secret-key', 'credit-card', 'email', 'iban', 'ipv4', 'ipv6', 'pem-private-key', 'phone', 'us-ssn'];
    assert.deepEqual([...seen].sort(), kinds);
  });

  it('masks a card number pushed byte by byte', () => {
    const input = utf8('pay 4111 1111 1111 1111 now\npay 5555555555554444');
    const { output, masker } = stream(input, () => 1);
    assert.equal(output.toString('utf8'), 'pay [masked:credit-card …1111] now\npay [masked:credit-card …4444]');
    assert.deepEqual(masker.take(), { 'credit-card': 2 });
    assert.deepEqual(masker.counts(), {});
  });

  it('keeps a 4-byte character whole wherever it is cut, even across an idle flush', () => {
    for (const text of ['😀', 'a😀', '😀b', 'é😀漢字😀']) {
      const input = utf8(text);
      for (let cut = 0; cut <= input.length; cut++) {
        const masker = new StreamMasker(contentDetectors);
        const pieces = [masker.push(input.subarray(0, cut)), masker.flush(), masker.push(input.subarray(cut)), masker.end()];
        for (const piece of pieces) assert.ok(isUtf8(piece), `${text} cut at ${cut}: ${piece.toString('hex')}`);
        assert.deepEqual(Buffer.concat(pieces), input, `${text} cut at ${cut}`);
      }
    }
  });

  it('lets complete lines through at once and holds an unfinished one until flush', () => {
    const masker = new StreamMasker(contentDetectors);
    assert.equal(masker.push(utf8('total 0\nalice@bastion:~$ ')).toString(), 'total 0\n');
    assert.equal(masker.held, 'alice@bastion:~$ '.length);
    assert.equal(masker.flush().toString(), 'alice@bastion:~$ ');
    assert.equal(masker.held, 0);
    assert.equal(masker.push(utf8('downloading  42%\r')).toString(), 'downloading  42%\r');
    assert.equal(masker.flush().length, 0);
    assert.equal(masker.end().length, 0);
  });

  it('holds the lines of a private key until its END line, then masks it whole', () => {
    const masker = new StreamMasker(contentDetectors);
    assert.equal(masker.push(utf8('$ cat id_rsa\n-----BEGIN RSA PRIVATE KEY-----\n')).toString(), '$ cat id_rsa\n');
    for (const line of KEY_BODY.split('\n')) assert.equal(masker.push(utf8(`${line}\n`)).length, 0);
    assert.equal(masker.push(utf8('-----END RSA PRIVATE KEY-----\n$ ')).toString(), '[masked:pem-private-key]\n');
    assert.equal(masker.flush().toString(), '$ ');
  });

  it('holds a line ending in an SSN or secret key label until the value has had its chance', () => {
    const masker = new StreamMasker(contentDetectors);
    assert.equal(masker.push(utf8('name: Ann\nSSN:\n')).toString(), 'name: Ann\n');
    assert.equal(masker.push(utf8('078051120\n')).toString(), 'SSN:\n[masked:us-ssn]\n');
    assert.equal(masker.push(utf8('aws_secret_access_key\n')).length, 0);
    assert.equal(masker.push(utf8('  = ')).length, 0);
    assert.equal(masker.push(utf8(`${SECRET}\n`)).toString(), 'aws_secret_access_key\n  = [masked:aws-secret-key]\n');
    // Far enough from any label, a line goes through.
    assert.equal(masker.push(utf8('the social network\nis a film\nfrom 2010\n')).toString(), 'the social network\nis a film\nfrom 2010\n');
  });

  it('never holds more than maxHold of a line without line breaks', () => {
    const random = mulberry32(7);
    const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'café', '漢字', '😀', 'x'];
    let line = '';
    while (line.length < 1 << 20) line += words[Math.floor(random() * words.length)] + ' ';
    const input = utf8(line);
    for (const maxHold of [4096, 256]) {
      const masker = new StreamMasker(contentDetectors, { maxHold });
      const sizes = chunkSizes(random, BULK_LIMITS);
      let pushed = 0;
      let emitted = 0;
      const pieces: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = Math.min(sizes(), input.length - at);
        const piece = masker.push(input.subarray(at, at + size));
        pushed += size;
        emitted += piece.length;
        at += size;
        pieces.push(piece);
        assert.ok(pushed - emitted <= maxHold, `holds ${pushed - emitted} bytes with maxHold ${maxHold}`);
        assert.equal(masker.held, pushed - emitted);
      }
      pieces.push(masker.end());
      assert.deepEqual(Buffer.concat(pieces), input);
      for (const piece of pieces) assert.ok(isUtf8(piece));
    }
  });

  it('cuts a long line before a value that straddles the cut, with its label', () => {
    // maxHold 4096 keeps back 512 characters: in a 5000-byte ASCII line the cut falls at 4488.
    const cases = [
      ['email', 'john.doe@example.com'],
      ['card', '4111 1111 1111 1111'],
      ['IBAN', 'GB82 WEST 1234 5698 7654 32'],
      ['labelled SSN', 'ssn: 078051120'],
      ['secret key', `aws_secret_access_key = ${SECRET}`],
    ] as const;
    for (const [what, value] of cases) {
      // Straddling the cut by one character, by half, by all but one; the label before it, the value after.
      for (const at of [4488 - value.length + 1, 4488 - Math.floor(value.length / 2), 4487, 4488 - 5, 4488 - 24]) {
        const line = `${'word '.repeat(at / 5 + 1).slice(0, at - 1)} ${value} ${'word '.repeat(200)}`.slice(0, 5000);
        const input = utf8(`${line}\n`);
        const masker = new StreamMasker(contentDetectors);
        const first = masker.push(input.subarray(0, 5000));
        assert.ok(first.length > 0, `${what} at ${at}`);
        // Whatever straddles the cut, label and all, must not have been let through.
        if (at < 4488 && 4488 < at + value.length) assert.ok(first.length <= at, `${what} at ${at}: emitted ${first.length}`);
        const output = Buffer.concat([first, masker.push(input.subarray(5000)), masker.end()]);
        assert.equal(output.toString(), maskBytes(input, contentDetectors).bytes.toString(), `${what} at ${at}`);
      }
    }
  });

  it('masks values all along a 1 MiB line as maskBytes masks it whole', () => {
    const random = mulberry32(1126);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const fillers = ['lorem', 'ipsum', 'dolor', 'café', '漢字', '😀', '42', '3.14', 'v1.2.3', 'id=7'];
    const parts: string[] = [];
    for (let length = 0; length < 1 << 20; ) {
      // One part in 70, some 350 bytes apart: maskBytes resolves overlaps in time quadratic in the matches.
      const part = random() < 1 / 70 ? pick(VALUES) : pick(fillers);
      parts.push(part);
      length += part.length + 1;
    }
    const input = utf8(parts.join(pick([' ', ', ', '\t'])));
    const expected = maskBytes(input, contentDetectors);
    for (const maxHold of [4096, 1000]) {
      const { output, masker } = stream(input, chunkSizes(random, BULK_LIMITS), new StreamMasker(contentDetectors, { maxHold }));
      assert.ok(output.equals(expected.bytes), `maxHold ${maxHold}`);
      assert.deepEqual(masker.counts(), expected.counts);
    }
  });

  it('passes random bytes through unchanged', () => {
    const random = mulberry32(99);
    const input = Buffer.alloc(1 << 18);
    for (let i = 0; i < input.length; i++) input[i] = Math.floor(random() * 256);
    assert.ok(!isUtf8(input));
    for (let run = 0; run < 5; run++) {
      const { output, masker } = stream(input, chunkSizes(random));
      assert.deepEqual(masker.counts(), {});
      assert.ok(output.equals(input), `run ${run}`);
    }
  });

  it('masks values among bytes that are not UTF-8 and keeps those bytes as they are', () => {
    const bytes = (...items: (string | number[])[]) => Buffer.concat(items.map((item) => (typeof item === 'string' ? utf8(item) : Buffer.from(item))));
    const input = bytes([0xff, 0xfe], 'card 4111111111111111', [0xc0, 0xaf], ' é ', [0xed, 0xa0, 0x80], 'x@example.com', [0x80], '\nok ', [0xf0, 0x9f, 0x98]);
    const expected = bytes([0xff, 0xfe], 'card [masked:credit-card …1111]', [0xc0, 0xaf], ' é ', [0xed, 0xa0, 0x80], '[masked:email]', [0x80], '\nok ', [0xf0, 0x9f, 0x98]);
    for (const size of [1, 2, 3, 7, input.length]) {
      const { output, masker } = stream(input, () => size);
      assert.deepEqual(output, expected, `pieces of ${size}`);
      assert.deepEqual(masker.counts(), { 'credit-card': 1, email: 1 });
    }
  });

  it('takes empty chunks in its stride', () => {
    const masker = new StreamMasker(contentDetectors);
    assert.equal(masker.push(Buffer.alloc(0)).length, 0);
    assert.equal(masker.flush().length, 0);
    assert.equal(masker.push(utf8('a@exam')).length, 0);
    assert.equal(masker.push(Buffer.alloc(0)).length, 0);
    assert.equal(masker.held, 6);
    assert.equal(Buffer.concat([masker.push(utf8('ple.com\n')), masker.end()]).toString(), '[masked:email]\n');
    assert.equal(masker.end().length, 0);
  });

  it('refuses a maxHold too small to hold a match', () => {
    assert.throws(() => new StreamMasker(contentDetectors, { maxHold: 10 }), RangeError);
  });
});
