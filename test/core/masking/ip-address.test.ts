import assert from 'node:assert/strict';
import { isIPv4 as nodeIsIPv4, isIPv6 as nodeIsIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import { isIPv4, isIPv6 } from '../../../core/masking/ip-address.js';
import { mulberry32 } from '../../helpers/prng.js';

describe('isIPv4 and isIPv6', () => {
  const samples = [
    '0.0.0.0', '255.255.255.255', '256.0.0.0', '01.0.0.0', '1.2.3', '1.2.3.4.5', '1..2.3', '',
    '::', '::1', '1::', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
    '1::2::3', ':::', '1:::2', ':1::2', '1::2:', '12345::', 'g::1', '1.2.3.4::', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4', '::ffff:256.1.1.1', 'fe80::1', '2001:db8:0:0:0:0:2:1', '2001:db8::2:1', ':', '1:2',
  ];

  it('agree with node:net on hand-picked addresses', () => {
    for (const s of samples) {
      assert.equal(isIPv4(s), nodeIsIPv4(s), `v4 ${s}`);
      assert.equal(isIPv6(s), nodeIsIPv6(s), `v6 ${s}`);
    }
  });

  it('agree with node:net on random strings of address characters', () => {
    const random = mulberry32(4291);
    const alphabet = ['0', '1', '2', '5', '9', 'a', 'f', 'F', 'g', ':', ':', ':', '.', '.'];
    for (let n = 0; n < 5000; n++) {
      let s = '';
      const length = 1 + Math.floor(random() * 24);
      for (let i = 0; i < length; i++) s += alphabet[Math.floor(random() * alphabet.length)];
      assert.equal(isIPv4(s), nodeIsIPv4(s), `v4 ${s}`);
      assert.equal(isIPv6(s), nodeIsIPv6(s), `v6 ${s}`);
    }
  });
});
