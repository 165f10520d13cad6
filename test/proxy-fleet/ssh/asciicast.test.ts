import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AsciicastFormatError,
  AsciicastRecorder,
  parseAsciicast,
  type RecorderOptions,
} from '../../../proxy-fleet/ssh/asciicast.js';

const startedAt = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

/** A clock that advances by `stepMs` each time it is read. */
function steppingClock(stepMs: number): () => number {
  let now = startedAt;
  return () => (now += stepMs);
}

describe('AsciicastRecorder', () => {
  let dir: string;
  let counter = 0;
  const nextPath = () => join(dir, `session-${(counter += 1)}.cast`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-asciicast-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function record(
    steps: (recorder: AsciicastRecorder) => void,
    options: RecorderOptions = { now: steppingClock(250) },
  ) {
    const path = nextPath();
    const recorder = await AsciicastRecorder.create(
      path,
      { width: 80, height: 24, term: 'xterm-256color', shell: '/bin/bash', title: 'alice@db-1', startedAt },
      options,
    );
    steps(recorder);
    const summary = await recorder.close();
    const bytes = await readFile(path);
    return { path, summary, bytes, text: bytes.toString('utf8') };
  }

  it('writes the header fields', async () => {
    const { text } = await record(() => {});
    const [first, rest] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
    assert.deepEqual(JSON.parse(first), {
      version: 2,
      width: 80,
      height: 24,
      timestamp: Math.floor(startedAt / 1000),
      env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
      title: 'alice@db-1',
    });
    assert.equal(rest, '');
  });

  it('records events with increasing times relative to the start', async () => {
    const { text, summary } = await record((recorder) => {
      recorder.output(Buffer.from('$ '));
      recorder.input(Buffer.from('ls\r'));
      recorder.output(Buffer.from('a.txt\r\n'));
      recorder.marker('approved');
    });
    const { events } = parseAsciicast(text);
    assert.deepEqual(events, [
      [0.25, 'o', '$ '],
      [0.5, 'i', 'ls\r'],
      [0.75, 'o', 'a.txt\r\n'],
      [1, 'm', 'approved'],
    ]);
    assert.equal(summary.events, 4);
    assert.equal(summary.durationSeconds, 1.25);
  });

  it('never lets time go backwards when the clock does', async () => {
    const times = [startedAt + 2000, startedAt + 1000, startedAt + 3000, startedAt + 500];
    const { text, summary } = await record(
      (recorder) => {
        recorder.output(Buffer.from('a'));
        recorder.output(Buffer.from('b'));
        recorder.output(Buffer.from('c'));
      },
      { now: () => times.shift() ?? startedAt },
    );
    assert.deepEqual(
      parseAsciicast(text).events.map(([time]) => time),
      [2, 2, 3],
    );
    assert.equal(summary.durationSeconds, 3);
  });

  it('keeps a multibyte character split across output chunks whole', async () => {
    const euro = Buffer.from('€', 'utf8'); // e2 82 ac
    const crab = Buffer.from('🦀', 'utf8'); // f0 9f a6 80
    const { text } = await record((recorder) => {
      recorder.output(Buffer.concat([Buffer.from('price '), euro.subarray(0, 1)]));
      recorder.output(euro.subarray(1, 2));
      recorder.output(Buffer.concat([euro.subarray(2), Buffer.from(' '), crab.subarray(0, 3)]));
      // Input keeps its own carry: a partial input character does not swallow output bytes.
      recorder.input(crab.subarray(0, 2));
      recorder.output(crab.subarray(3));
      recorder.input(crab.subarray(2));
    });
    assert.ok(!text.includes('\ufffd'), text);
    const { events } = parseAsciicast(text);
    assert.deepEqual(
      events.map(([, code, data]) => [code, data]),
      [
        ['o', 'price '],
        ['o', '€ '],
        ['o', '🦀'],
        ['i', '🦀'],
      ],
    );
  });

  it('flushes a character that never completed as U+FFFD on close', async () => {
    const { text } = await record((recorder) => {
      recorder.output(Buffer.from([0x61, 0xe2, 0x82]));
    });
    assert.deepEqual(
      parseAsciicast(text).events.map(([, code, data]) => [code, data]),
      [
        ['o', 'a'],
        ['o', '\ufffd'],
      ],
    );
  });

  it('records resizes as COLSxROWS and rejects impossible sizes', async () => {
    const { text } = await record((recorder) => {
      recorder.resize(120, 40);
      assert.throws(() => recorder.resize(0, 40), RangeError);
      assert.throws(() => recorder.resize(80.5, 24), RangeError);
    });
    assert.deepEqual(parseAsciicast(text).events, [[0.25, 'r', '120x40']]);
  });

  it('returns the SHA-256 and size of the exact bytes on disk', async () => {
    const { summary, bytes, path } = await record((recorder) => {
      recorder.output(Buffer.from('\x1b[1mbold\x1b[0m "quoted" \\ \u0000'));
      recorder.input(Buffer.from('secret\r'));
    });
    assert.equal(summary.path, path);
    assert.equal(summary.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(summary.bytes, bytes.length);
  });

  it('creates the file with mode 0600 and refuses to overwrite one', async () => {
    const { path } = await record(() => {});
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await assert.rejects(AsciicastRecorder.create(path, { width: 80, height: 24 }), { code: 'EEXIST' });
  });

  it('makes close() idempotent and refuses events after it', async () => {
    const recorder = await AsciicastRecorder.create(nextPath(), { width: 80, height: 24 }, { now: steppingClock(10) });
    recorder.output(Buffer.from('bye'));
    const first = recorder.close();
    const second = recorder.close();
    assert.equal(first, second);
    assert.deepEqual(await first, await second);
    assert.throws(() => recorder.output(Buffer.from('late')), /closed/);
  });

  it('signals backpressure and fails rather than queue without bound', async () => {
    const errors: Error[] = [];
    const path = nextPath();
    const recorder = await AsciicastRecorder.create(
      path,
      { width: 80, height: 24 },
      { now: steppingClock(1), highWaterMark: 1024, maxBufferedBytes: 4096, onError: (error) => errors.push(error) },
    );
    const chunk = Buffer.alloc(512, 'x');
    assert.equal(recorder.output(chunk), true);
    assert.equal(recorder.output(chunk), false, 'past the high-water mark');
    await recorder.drained();
    assert.equal(recorder.output(chunk), true, 'drained');

    // A caller that ignores false is stopped, loudly, before the queue passes the limit by more than a chunk.
    let accepted = 0;
    while (errors.length === 0 && accepted < 100) {
      recorder.output(chunk);
      accepted += 1;
    }
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.name, 'AsciicastOverflowError');
    assert.equal(recorder.output(chunk), false);
    await assert.rejects(recorder.drained(), { name: 'AsciicastOverflowError' });
    await assert.rejects(recorder.close(), { name: 'AsciicastOverflowError' });
    // What was queued before the overflow is on disk and still parses.
    assert.ok(parseAsciicast(await readFile(path, 'utf8')).events.length >= 3);
  });
});

describe('parseAsciicast', () => {
  const header = JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1700000000, env: { TERM: 'xterm' } });
  const file = (...lines: string[]) => `${[header, ...lines].join('\n')}\n`;

  it('round-trips a recording', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-asciicast-'));
    try {
      const path = join(dir, 'round-trip.cast');
      const recorder = await AsciicastRecorder.create(
        path,
        { width: 100, height: 30, term: 'xterm', startedAt },
        { now: steppingClock(1500) },
      );
      recorder.output(Buffer.from('héllo\r\n'));
      recorder.input(Buffer.from('\x03'));
      recorder.resize(120, 40);
      recorder.marker('');
      await recorder.close();
      const parsed = parseAsciicast(await readFile(path, 'utf8'));
      assert.deepEqual(parsed.header, {
        version: 2,
        width: 100,
        height: 30,
        timestamp: Math.floor(startedAt / 1000),
        env: { TERM: 'xterm' },
      });
      assert.deepEqual(parsed.events, [
        [1.5, 'o', 'héllo\r\n'],
        [3, 'i', '\x03'],
        [4.5, 'r', '120x40'],
        [6, 'm', ''],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts a file without a final newline', () => {
    assert.equal(parseAsciicast(`${header}\n[0.5,"o","x"]`).events.length, 1);
  });

  const malformed: [label: string, text: string, line: number, message: RegExp][] = [
    ['an empty file', '', 1, /missing header/],
    ['a header that is not JSON', '{"version": 2,\n', 1, /not JSON/],
    ['a header that is an array', '[2, 80, 24]\n', 1, /not a JSON object/],
    ['header version 1', `${JSON.stringify({ version: 1, width: 80, height: 24 })}\n`, 1, /version 1/],
    ['header version "2"', `${JSON.stringify({ version: '2', width: 80, height: 24 })}\n`, 1, /version "2"/],
    ['a header without width', `${JSON.stringify({ version: 2, height: 24 })}\n`, 1, /width/],
    ['a header env with a number', `${JSON.stringify({ version: 2, width: 8, height: 2, env: { A: 1 } })}\n`, 1, /env/],
    ['an event that is an object', file('[0.1,"o","a"]', '{"time":1}'), 3, /not a JSON array/],
    ['an event with two elements', file('[0.1,"o"]'), 2, /2 elements/],
    ['an unknown code', file('[0.1,"o","a"]', '[0.2,"x","a"]'), 3, /unknown event code "x"/],
    ['a string time', file('["0.1","o","a"]'), 2, /time/],
    ['a negative time', file('[-1,"o","a"]'), 2, /time/],
    ['an infinite time', file('[1e400,"o","a"]'), 2, /time/],
    ['time going backwards', file('[2,"o","a"]', '[1,"o","b"]'), 3, /before the previous/],
    ['non-string data', file('[0.1,"o",42]'), 2, /data/],
    ['a malformed resize', file('[0.1,"r","120 by 40"]'), 2, /COLSxROWS/],
    ['an empty line in the middle', file('[0.1,"o","a"]', '', '[0.2,"o","b"]'), 3, /empty line/],
    ['trailing garbage after an event', file('[0.1,"o","a"]', '[0.2,"o","b"] junk'), 3, /not JSON/],
    ['a garbage last line', file('[0.1,"o","a"]', 'EOF'), 3, /not JSON/],
  ];
  for (const [label, text, line, message] of malformed) {
    it(`rejects ${label} at line ${line}`, () => {
      assert.throws(
        () => parseAsciicast(text),
        (error: unknown) => {
          assert.ok(error instanceof AsciicastFormatError);
          assert.equal(error.line, line);
          assert.match(error.message, new RegExp(`^asciicast line ${line}: `));
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});
