/**
 * ResponseMasker on DataRow messages: a row with nothing to mask passes as the very same bytes
 * (the fast path reads each value's signals in place), a value with PII is masked wherever it
 * sits in the row, and a malformed row is refused, not forwarded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentDetectors } from '../../../core/masking/detectors.js';
import { buildDataRow } from '../../../proxy-fleet/postgres/protocol/index.js';
import { ResponseMasker } from '../../../proxy-fleet/postgres/response-masker.js';
import { ResultTracker } from '../../../proxy-fleet/postgres/result-tracker.js';

const dataRow = (values: readonly (string | null)[]) => buildDataRow(values.map((value) => (value === null ? null : Buffer.from(value, 'utf8'))));
const mask = (raw: Buffer) => new ResponseMasker(new ResultTracker(), contentDetectors).mask({ name: 'other', code: 0x44, raw } as never);

describe('ResponseMasker: DataRow', () => {
  it('passes a row with nothing to mask as the same Buffer', () => {
    const raw = dataRow(['42', 'Zoë Müller', null, '2026-11-27 04:12:29.123456+00', 'ORD-2026-00000042', '129.99']);
    assert.equal(mask(raw), raw);
  });

  it('masks a value whatever the bytes around it: a length of 53 is the digit "5" just before the value', () => {
    const ssn = `123-45-6789 ${'x'.repeat(41)}`;
    assert.equal(Buffer.byteLength(ssn), 0x35);
    const masker = new ResponseMasker(new ResultTracker(), contentDetectors);
    const out = masker.mask({ name: 'other', code: 0x44, raw: dataRow(['7', ssn, 'ann@example.com']) } as never);
    const text = out.toString('utf8');
    assert.ok(!text.includes('123-45-6789'), `the SSN is masked: ${text}`);
    assert.ok(!text.includes('ann@example.com'), `the email is masked: ${text}`);
    assert.deepEqual(masker.take(), { 'us-ssn': 1, email: 1 });
  });

  it('refuses a malformed row rather than forwarding it', () => {
    const raw = dataRow(['1', 'two']);
    raw.writeInt32BE(99, 7); // the first value's length runs past the message
    assert.throws(() => mask(raw), { name: 'ProtocolError', message: /DataRow value runs past the message/ });
    const negative = dataRow([]);
    negative.writeInt16BE(-1, 5);
    assert.throws(() => mask(negative), { name: 'ProtocolError', message: /negative column count/ });
    assert.throws(() => mask(Buffer.concat([dataRow(['1']), Buffer.from('x')])), { name: 'ProtocolError', message: /bytes after its last value/ });
  });
});
