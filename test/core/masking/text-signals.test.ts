import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentDetectors } from '../../../core/masking/detectors.js';
import { scanSignals, scanUtf8Signals, Signal } from '../../../core/masking/text-signals.js';
import { mulberry32 } from '../../helpers/prng.js';

const names = (signals: number) =>
  Object.entries(Signal)
    .filter(([, bit]) => (signals & bit) !== 0)
    .map(([name]) => name);

describe('scanSignals', () => {
  it('raises nothing for ordinary row content', () => {
    for (const text of ['Springfield', '1234 Washington Blvd', 'ORD-2026-00012345', '49.99', '2026-11-26 17:30:00.123456+00', 'v2.13.1', '', 'München, Łódź']) {
      assert.deepEqual(names(scanSignals(text)), [], text);
    }
  });

  it('raises the signal of each kind of value', () => {
    const cases: [string, keyof typeof Signal][] = [
      ['4111 1111 1111 1111', 'LongDigitRun'],
      ['123-45-6789', 'SsnShape'],
      ['ssn 123456789', 'NineDigits'],
      ['(415) 555-2671', 'NanpShape'],
      ['+44 20 7946 0958', 'PlusDigits'],
      ['+(44) 2079460958', 'PlusDigits'],
      ['a@b.co', 'At'],
      ['10.0.0.1', 'DottedDigits'],
      ['fe80::1', 'ManyColons'],
      ['1:2:3:4:5:6:7:8', 'ManyColons'],
      ['AKIAIOSFODNN7EXAMPLE', 'Token20'],
      ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'Token40'],
      ['GB82WEST12345698765432', 'IbanHead'],
      ['eyJhbGciOiJub25lIn0.e30.', 'JsonBase64'],
      ['Bearer eyJhbGciOiJub25lIn0.e30.', 'JsonBase64'],
      ['https://example.com/cb/eyJhbGciOiJub25lIn0.e30.', 'JsonBase64'],
      ['-----BEGIN PRIVATE KEY-----', 'DashB'],
    ];
    for (const [text, signal] of cases) assert.ok(names(scanSignals(text)).includes(signal), `${text}: ${signal}`);
  });

  it('raises the signals of the AWS keys for their exact shapes only, wherever a long token holds them', () => {
    const key = 'AKIAIOSFODNN7EXAMPLE';
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    for (const text of [`x[${key}]y`, `+${key}+`, `${key}/${'x'.repeat(30)}`]) assert.ok(names(scanSignals(text)).includes('Token20'), text);
    for (const text of [`x_${key}`, `${key}7`, 'x'.repeat(63), `${'a'.repeat(19)}+${'b'.repeat(19)}`]) assert.equal(scanSignals(text) & Signal.Token20, 0, text);
    for (const text of [`aws_secret_access_key=${secret}`, `key: "${secret}"`, `_${secret}_`]) assert.ok(names(scanSignals(text)).includes('Token40'), text);
    for (const text of [`aws_secret_access_key=${secret}=`, `aws_secret_access_key=${secret}A`, 'x'.repeat(63)]) assert.equal(scanSignals(text) & Signal.Token40, 0, text);
    // The long-token readers are twins too (string and bytes): the same answers on every case above.
    for (const text of [`x[${key}]y`, `x_${key}`, `${key}7`, `key: "${secret}"`, `aws_secret_access_key=${secret}=`, `_${secret}_`, 'x'.repeat(63)]) {
      assert.equal(scanUtf8Signals(Buffer.from(text)), scanSignals(text), text);
    }
  });

  it('needs the digit groups in one run', () => {
    assert.equal(scanSignals('4111 1111 1111 x 1111') & Signal.LongDigitRun, 0);
    assert.equal(scanSignals('123-45   6789') & Signal.SsnShape, 0);
    assert.equal(scanSignals('1.2.3 4.5') & Signal.DottedDigits, 0);
  });

  it('gives the same answer on UTF-8 bytes as on text', () => {
    const random = mulberry32(7);
    const alphabet = ['a', 'Z', 'e', 'y', 'J', 'B', 'G', 'A', '0', '1', '4', '9', ' ', '-', '.', '(', ')', '+', '/', ':', '@', '_', 'é', '€', '😀', '\t'];
    for (let n = 0; n < 2000; n++) {
      let text = '';
      const length = Math.floor(random() * 60);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      assert.equal(scanUtf8Signals(Buffer.from(text, 'utf8')), scanSignals(text), JSON.stringify(text));
      // Within a larger buffer (a value inside a DataRow), the bytes around the range must not count.
      const [before, after] = [alphabet[n % alphabet.length]!.repeat(3), alphabet[(n * 7) % alphabet.length]!.repeat(3)];
      const framed = Buffer.from(`${before}${text}${after}`, 'utf8');
      const start = Buffer.byteLength(before);
      assert.equal(scanUtf8Signals(framed, start, start + Buffer.byteLength(text)), scanSignals(text), `${JSON.stringify(text)} between ${before} and ${after}`);
    }
  });

  it('raises a signal of every detector that finds something in the text (property)', () => {
    const random = mulberry32(13);
    const pieces = ['a', 'ssn ', 'GB82', 'WEST', 'GB82WEST12345698765432', 'AKIAIOSFODNN7EXAMPLE', '10.0.0.1', '192.168.', 'eyJ', '-----BEGIN ', ' ', '-', '.', '(', ')', '+', ':', '::', '@', '/', '1', '0', '4', '12', '123', '555', '4111', '4111 1111', '5555555555554444', '2671', '98765432', '123456789', 'é', '€',
      'aws_secret_access_key=', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '=', '_', '[', '"', 'xxxxxxxxxxxxxxxxxxxx'];
    for (let n = 0; n < 20000; n++) {
      let text = '';
      for (let i = Math.floor(random() * 16); i > 0; i--) text += pieces[Math.floor(random() * pieces.length)];
      const signals = scanSignals(text);
      for (const detector of contentDetectors) {
        if (detector.find(text).length > 0) assert.notEqual(signals & detector.signals!, 0, `${detector.id} in ${JSON.stringify(text)}`);
      }
    }
  });
});
