/**
 * Masking throughput on one core. Builds a corpus of realistic rows from a seeded PRNG (names,
 * streets, cities, order ids, amounts, timestamps, statuses; about 1% of rows carry an email, a
 * card, an SSN or a phone number) and prints MB/s (10^6 bytes of UTF-8 input per second) of:
 *
 *   - maskText per field, as the proxy masks DataRow columns;
 *   - maskBytes per field, the same on the wire bytes;
 *   - maskText per row, the fields joined by tabs as in COPY text output;
 *   - DataRow messages through the proxy's ResponseMasker, the path every result row takes
 *     (MB/s of the values in them);
 *
 * beside a reference: a loop that only reads every character of every field, the ceiling for any
 * JavaScript scan on the machine at hand.
 *
 * Run: node --import tsx bench/masking.ts [--mb 50] [--seconds 3]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { contentDetectors } from '../core/masking/detectors.js';
import { maskBytes, maskBytesInto, maskText } from '../core/masking/mask-text.js';
import { buildDataRow } from '../proxy-fleet/postgres/protocol/index.js';
import { ResponseMasker } from '../proxy-fleet/postgres/response-masker.js';
import { ResultTracker } from '../proxy-fleet/postgres/result-tracker.js';
import { mulberry32 } from '../test/helpers/prng.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '50' }, seconds: { type: 'string', default: '3' } } });
const CORPUS_BYTES = Number(values.mb) * 1e6;
const SECONDS = Number(values.seconds);

// A seeded PRNG, so every run masks the same corpus.
const random = mulberry32(20261126);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pad = (n: number, width: number) => String(n).padStart(width, '0');

const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'Zoë', 'José', 'Anaïs', 'Łukasz'];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Müller', 'O’Brien'];
const STREETS = ['Oak Street', 'Maple Avenue', 'Cedar Lane', 'Elm Road', 'Washington Blvd', 'Park Place', 'Lake View Drive', 'Hauptstraße'];
const CITIES = ['Springfield', 'Riverside', 'Franklin', 'Greenville', 'Bristol', 'Clinton', 'Fairview', 'Salem', 'München'];
const STATES = ['CA', 'TX', 'NY', 'FL', 'IL', 'PA', 'OH', 'GA'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'];
const NOTES = ['', '', '', 'leave at the back door', 'gift wrap, no invoice', 'call before delivery', 'fragile: 2 boxes', 'customer asked for v2.3.1 firmware'];
const PII = [
  () => `${pick(FIRST).toLowerCase()}.${pick(LAST).toLowerCase()}@example.com`.normalize('NFKD').replace(/[^\x20-\x7e]/g, ''),
  () => pick(['4111 1111 1111 1111', '5555555555554444', '3782-822463-10005', '6011111111111117']),
  () => `${pad(int(1, 665), 3)}-${pad(int(1, 99), 2)}-${pad(int(1, 9999), 4)}`,
  () => `+1 (${int(200, 999)}) ${int(200, 999)}-${pad(int(0, 9999), 4)}`,
];

function row(id: number): string[] {
  const timestamp = `2026-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)} ${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:${pad(int(0, 59), 2)}.${pad(int(0, 999999), 6)}+00`;
  const note = random() < 0.01 ? `contact ${pick(PII)()}` : pick(NOTES);
  return [
    String(id),
    pick(FIRST),
    pick(LAST),
    `${int(1, 9999)} ${pick(STREETS)}`,
    pick(CITIES),
    pick(STATES),
    pad(int(501, 99950), 5),
    `ORD-2026-${pad(id, 8)}`,
    `${int(1, 999)}.${pad(int(0, 99), 2)}`,
    timestamp,
    pick(STATUSES),
    note,
  ];
}

const fields: string[] = [];
const fieldBytes: Buffer[] = [];
const rows: string[] = [];
const dataRows: Buffer[] = [];
let corpusBytes = 0;
for (let id = 1; corpusBytes < CORPUS_BYTES; id++) {
  const values = row(id);
  const encoded = values.map((value) => Buffer.from(value, 'utf8'));
  fields.push(...values);
  fieldBytes.push(...encoded);
  dataRows.push(buildDataRow(encoded));
  const line = values.join('\t');
  rows.push(line);
  corpusBytes += Buffer.byteLength(line, 'utf8');
}
const fieldsTotal = fieldBytes.reduce((sum, bytes) => sum + bytes.length, 0);

/**
 * Repeats passes over the inputs for about SECONDS. Throughput is given per second of wall time and
 * per second of this process's CPU time: on a shared machine the second is the fairer per-core figure.
 */
function measure<T>(inputs: readonly T[], bytesPerPass: number, mask: (input: T) => number) {
  for (let i = 0; i < Math.min(inputs.length, 200_000); i++) mask(inputs[i]!); // warm up the optimizing compiler
  let passes = 0;
  let masked = 0;
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  do {
    for (const input of inputs) masked += mask(input);
    passes++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < SECONDS);
  const cpu = process.cpuUsage(cpuStart);
  const megabytes = (bytesPerPass * passes) / 1e6;
  return { wall: megabytes / elapsed, cpu: megabytes / ((cpu.user + cpu.system) / 1e6), maskedPerPass: masked / passes };
}

/** Values masked, read only when the input came back changed (the common case costs a comparison). */
const maskedCount = (changed: boolean, counts: Readonly<Record<string, number>>) => {
  if (!changed) return 0;
  let n = 0;
  for (const id in counts) n += counts[id]!;
  return n;
};

console.log(`corpus: ${rows.length} rows, ${fields.length} fields, ${(corpusBytes / 1e6).toFixed(1)} MB; ${contentDetectors.length} detectors; ${SECONDS}s per measure`);
/** The reference: read each character and nothing more. */
function readEveryCharacter(text: string): number {
  let sum = 0;
  for (let i = 0; i < text.length; i++) sum += text.charCodeAt(i);
  return sum & 0;
}

const sharedCounts: Record<string, number> = {};
const DATA_ROW = 0x44;
const proxyMasker = new ResponseMasker(new ResultTracker(), contentDetectors);
const results = [
  ['read every character', measure(fields, fieldsTotal, readEveryCharacter)],
  ['maskText per field', measure(fields, fieldsTotal, (f) => {
    const masked = maskText(f, contentDetectors);
    return maskedCount(masked.text !== f, masked.counts);
  })],
  ['maskBytes per field', measure(fieldBytes, fieldsTotal, (b) => {
    const masked = maskBytes(b, contentDetectors);
    return maskedCount(masked.bytes !== b, masked.counts);
  })],
  // What the PostgreSQL proxy does for each DataRow value: counts added into one record, nothing allocated for a clean value.
  ['maskBytesInto per field', measure(fieldBytes, fieldsTotal, (b) => (maskBytesInto(b, contentDetectors, sharedCounts) === b ? 0 : 1))],
  ['maskText per row', measure(rows, corpusBytes, (r) => {
    const masked = maskText(r, contentDetectors);
    return maskedCount(masked.text !== r, masked.counts);
  })],
  ['DataRow through the proxy\'s ResponseMasker', measure(dataRows, fieldsTotal, (raw) => (proxyMasker.mask({ name: 'other', code: DATA_ROW, raw }) === raw ? 0 : 1))],
] as const;
for (const [label, { wall, cpu, maskedPerPass }] of results) {
  console.log(`${label.padEnd(20)} ${wall.toFixed(0).padStart(5)} MB/s wall ${cpu.toFixed(0).padStart(5)} MB/s CPU   ${maskedPerPass} values masked per pass`);
}
// One core's figure is the CPU rate: on a shared machine wall time also counts other work.
const figures = results.map(([measure, { wall, cpu, maskedPerPass }]) => ({ measure, mbPerSecond: cpu, wallMbPerSecond: wall, maskedPerPass }));
await writeFile(new URL('./results-masking.json', import.meta.url), `${JSON.stringify({ node: process.version, at: new Date().toISOString(), rows: figures }, null, 2)}\n`);
