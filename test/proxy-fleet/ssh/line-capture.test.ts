import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineCapture, MAX_LINE_BYTES, type CapturedLine } from '../../../proxy-fleet/ssh/line-capture.js';

const UP = '\x1b[A';
const LEFT = '\x1b[D';
const HOME_SS3 = '\x1bOH';
const PASTE_START = '\x1b[200~';
const PASTE_END = '\x1b[201~';

/** Feeds each chunk in turn (strings as UTF-8, buffers as they are) and collects every line. */
function capture(...chunks: (string | Buffer)[]): CapturedLine[] {
  const lines = new LineCapture();
  return chunks.flatMap((chunk) => lines.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk));
}

/** The same keystrokes whole, then byte by byte: splitting them must not change the lines. */
function captureEveryWay(keys: string): CapturedLine[] {
  const whole = capture(keys);
  const bytes = Buffer.from(keys, 'utf8');
  const single = capture(...[...bytes].map((byte) => Buffer.from([byte])));
  assert.deepEqual(single, whole, 'byte by byte');
  return whole;
}

const exact = (text: string): CapturedLine => ({ text, exact: true });
const inexact = (text: string): CapturedLine => ({ text, exact: false });

describe('LineCapture', () => {
  it('emits typed lines on Enter and skips empty ones', () => {
    assert.deepEqual(captureEveryWay('ls -la\r\r\rwhoami\n'), [exact('ls -la'), exact('whoami')]);
  });

  it('does not emit a line before Enter', () => {
    const lines = new LineCapture();
    assert.deepEqual(lines.push(Buffer.from('sudo rm')), []);
    assert.deepEqual(lines.push(Buffer.from(' -rf /tmp/x\r')), [exact('sudo rm -rf /tmp/x')]);
  });

  it('applies Backspace and Ctrl-H, one code point each', () => {
    assert.deepEqual(captureEveryWay('lsx\x7f -l\x08a\r'), [exact('ls -a')]);
    assert.deepEqual(captureEveryWay('echo é🦀\x7f\x7fa\r'), [exact('echo a')]);
    assert.deepEqual(captureEveryWay('\x7f\x7fid\r'), [exact('id')]);
  });

  it('clears the line on Ctrl-U', () => {
    assert.deepEqual(captureEveryWay('rm -rf /\x15echo safe\r'), [exact('echo safe')]);
  });

  it('deletes the previous word on Ctrl-W', () => {
    assert.deepEqual(captureEveryWay('git push --force  \x17origin\r'), [exact('git push origin')]);
    assert.deepEqual(captureEveryWay('cat a/b/c\x17\x17ls\r'), [exact('ls')]);
  });

  it('discards the line on Ctrl-C', () => {
    assert.deepEqual(captureEveryWay('drop table users\x03select 1\r'), [exact('select 1')]);
    assert.deepEqual(captureEveryWay(`${UP}\x03\r`), [], 'Ctrl-C also forgets that the line was inexact');
  });

  it('counts CRLF once, even split across pushes', () => {
    assert.deepEqual(captureEveryWay('a\r\nb\n\rc\r\n\r\n'), [exact('a'), exact('b'), exact('c')]);
    assert.deepEqual(capture('a\r', '\nb\r', '\n'), [exact('a'), exact('b')]);
  });

  it('emits nothing for Ctrl-D on an empty line', () => {
    assert.deepEqual(captureEveryWay('\x04'), []);
    assert.deepEqual(captureEveryWay('exit\x04\r'), [exact('exit')]);
  });

  it('joins a multibyte character split across pushes', () => {
    const text = Buffer.from('echo ünï🦀€\r', 'utf8');
    for (let cut = 0; cut <= text.length; cut += 1) {
      assert.deepEqual(capture(text.subarray(0, cut), text.subarray(cut)), [exact('echo ünï🦀€')], `cut at ${cut}`);
    }
    assert.deepEqual(captureEveryWay('日本語\r'), [exact('日本語')]);
  });

  it('turns a character cut short by a control byte into U+FFFD', () => {
    assert.deepEqual(capture(Buffer.from([0x61, 0xe2, 0x82, 0x0d])), [exact('a\ufffd')]);
  });

  it('inserts a bracketed paste literally, one line per newline', () => {
    const keys = `psql ${PASTE_START}select 1;\r\nselect\t2;\nselect 3${PASTE_END} -q\r`;
    assert.deepEqual(captureEveryWay(keys), [exact('psql select 1;'), exact('select\t2;'), exact('select 3 -q')]);
  });

  it('keeps Backspace and Ctrl-C inside a paste as pasted bytes, not editing', () => {
    assert.deepEqual(captureEveryWay(`${PASTE_START}ab\x7f\x03c${PASTE_END}\r`), [exact('abc')]);
  });

  it('marks a line recalled from history inexact', () => {
    assert.deepEqual(captureEveryWay(`${UP}\r`), [inexact('')]);
    assert.deepEqual(captureEveryWay(`ls${UP}${UP}\x1b[B -l\r`), [inexact('ls -l')]);
    assert.deepEqual(captureEveryWay(`\x10\r`), [inexact('')], 'Ctrl-P');
    assert.deepEqual(captureEveryWay('\x12drop\r'), [inexact('drop')], 'Ctrl-R search');
  });

  it('marks tab completion inexact and keeps the text typed', () => {
    assert.deepEqual(captureEveryWay('cat /etc/pas\t\r'), [inexact('cat /etc/pas')]);
    assert.deepEqual(captureEveryWay('ls\tx\rpwd\r'), [inexact('lsx'), exact('pwd')], 'only the line with the Tab');
  });

  it('marks cursor movement inexact, whether CSI, SS3 or a control key', () => {
    assert.deepEqual(captureEveryWay(`echo b${LEFT}a\r`), [inexact('echo ba')]);
    assert.deepEqual(captureEveryWay(`cho${HOME_SS3}e\r`), [inexact('choe')]);
    assert.deepEqual(captureEveryWay('cho\x01e\r'), [inexact('choe')], 'Ctrl-A');
    assert.deepEqual(captureEveryWay('ls \x1b[3;5~\r'), [inexact('ls ')], 'Ctrl-Delete with parameters');
    assert.deepEqual(captureEveryWay('git commit\x1bb\r'), [inexact('git commit')], 'Alt-b');
  });

  it('lets Enter after a lone Escape still submit the line', () => {
    assert.deepEqual(captureEveryWay('ls\x1b\r'), [inexact('ls')]);
  });

  it('treats operate-and-get-next (Ctrl-O) as Enter and the next line as inexact', () => {
    assert.deepEqual(captureEveryWay('ls\x0f\r'), [exact('ls'), inexact('')]);
  });

  it('ignores other control characters', () => {
    assert.deepEqual(captureEveryWay('l\x00s\x07\x0c\x1c\r'), [exact('ls')]);
  });

  it('caps a line at 64 KiB and marks it inexact', () => {
    const lines = new LineCapture();
    assert.deepEqual(lines.push(Buffer.alloc(MAX_LINE_BYTES, 'a')), []);
    const [full] = lines.push(Buffer.from('\r'));
    assert.deepEqual(full, exact('a'.repeat(MAX_LINE_BYTES)), 'exactly at the cap is still exact');

    lines.push(Buffer.alloc(MAX_LINE_BYTES - 1, 'b'));
    const [over] = lines.push(Buffer.from('€bbbb\r'));
    assert.ok(over);
    assert.equal(over.exact, false);
    assert.equal(over.text, 'b'.repeat(MAX_LINE_BYTES - 1), 'no partial character at the cut');

    const [next] = lines.push(Buffer.from('id\r'));
    assert.deepEqual(next, exact('id'), 'the next line starts afresh');
  });

  it('handles long Ctrl-W and Backspace runs on a capped line quickly', () => {
    const word = 'x'.repeat(MAX_LINE_BYTES - 2);
    const keys = Buffer.concat([Buffer.from(`${word} y`), Buffer.alloc(2000, 0x7f), Buffer.from('\x17\x17z\r')]);
    const started = performance.now();
    assert.deepEqual(capture(keys), [exact('z')]);
    assert.ok(performance.now() - started < 1000);
  });
});
