/**
 * Command lines reconstructed from the raw bytes a user types into an interactive shell. The pty
 * and its line editor run on the remote host, so this follows a simple editor with the cursor
 * always at the end of the line. Anything that editor cannot follow (cursor movement, history,
 * completion, search, kill and yank) still leaves the text typed so far, but marks the line
 * `exact: false`: the shell may have run something else.
 */

export interface CapturedLine {
  text: string;
  /** False when editing we cannot follow happened: cursor movement, history, completion, overflow. */
  exact: boolean;
}

export const MAX_LINE_BYTES = 64 * 1024;

const ESC = 0x1b;
const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const CTRL_C = 0x03;
const CTRL_H = 0x08;
const CTRL_O = 0x0f;
const CTRL_U = 0x15;
const CTRL_W = 0x17;
const DEL = 0x7f;

/**
 * Controls readline's default (emacs) keymap binds to editing we do not follow: Ctrl-A B E F
 * (cursor), K (kill to end), N P (history), R S (search), T (transpose), V (quoted insert),
 * X (prefix), Y (yank), ] (character search), _ (undo).
 */
const UNFOLLOWED_CONTROLS: ReadonlySet<number> = new Set([
  0x01, 0x02, 0x05, 0x06, 0x0b, 0x0e, 0x10, 0x12, 0x13, 0x14, 0x16, 0x18, 0x19, 0x1d, 0x1f,
]);

const MAX_CSI_PARAMS = 32;
// C1 controls that survive UTF-8 decoding are not text a shell line can hold.
const C1_CONTROLS = /[\u0080-\u009f]/g;

type State = 'ground' | 'escape' | 'csi' | 'ss3';

export class LineCapture {
  private text = '';
  private bytes = 0;
  private exact = true;
  private state: State = 'ground';
  private csiParams = '';
  private pasting = false;
  private afterCR = false;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /** Lines submitted by the bytes in `input`, in order. Partial characters and sequences carry over. */
  push(input: Buffer): CapturedLine[] {
    const lines: CapturedLine[] = [];
    let runStart = -1;
    let index = 0;
    while (index < input.length) {
      const byte = input[index]!;
      if (this.state === 'ground') {
        if (byte >= 0x20 && byte !== DEL) {
          if (runStart < 0) runStart = index;
          this.afterCR = false;
          index += 1;
          continue;
        }
        if (runStart >= 0) {
          // A control byte ends the run; a character it cut short will never complete.
          this.append(this.decoder.decode(input.subarray(runStart, index)));
          runStart = -1;
        } else {
          this.append(this.decoder.decode());
        }
        this.control(byte, lines);
        index += 1;
        continue;
      }
      if (this.escape(byte)) index += 1;
    }
    if (runStart >= 0) this.append(this.decoder.decode(input.subarray(runStart), { stream: true }));
    return lines;
  }

  private control(byte: number, lines: CapturedLine[]): void {
    const afterCR = this.afterCR;
    this.afterCR = byte === CR;
    if (byte === CR || byte === LF) {
      if (byte === LF && afterCR) return;
      this.submit(lines);
      return;
    }
    if (byte === ESC) {
      this.state = 'escape';
      return;
    }
    if (this.pasting) {
      // Pasted text goes in literally; other controls in a paste are dropped, not editing.
      if (byte === TAB) this.append('\t');
      return;
    }
    switch (byte) {
      case DEL:
      case CTRL_H:
        this.deleteLastCodePoint();
        return;
      case CTRL_U:
        this.truncate(0);
        return;
      case CTRL_W:
        // readline's unix-word-rubout: blanks before the cursor, then the word before them.
        this.truncate(wordRuboutStart(this.text));
        return;
      case CTRL_C:
        this.reset();
        return;
      case CTRL_O:
        // operate-and-get-next: runs the line, then loads the next history entry for editing.
        this.submit(lines);
        this.exact = false;
        return;
      case TAB:
        this.exact = false;
        return;
      default:
        if (UNFOLLOWED_CONTROLS.has(byte)) this.exact = false;
      // Ctrl-D (EOF on an empty line, delete-char at the end of one) and the rest change nothing.
    }
  }

  /** One byte inside an escape sequence. Returns false when the byte must be handled again in ground state. */
  private escape(byte: number): boolean {
    this.afterCR = false;
    switch (this.state) {
      case 'escape':
        if (byte === 0x5b /* [ */) {
          this.state = 'csi';
          this.csiParams = '';
          return true;
        }
        if (byte === 0x4f /* O */) {
          this.state = 'ss3';
          return true;
        }
        this.unfollowed();
        if (byte === ESC) return true;
        this.state = 'ground';
        // Alt+key is Escape then the key. A lone Escape followed by anything else (vi mode's Escape
        // then Enter) leaves that byte to be handled on its own.
        return isPrintableAscii(byte);
      case 'csi':
        if (byte >= 0x20 && byte <= 0x3f) {
          if (this.csiParams.length < MAX_CSI_PARAMS) this.csiParams += String.fromCharCode(byte);
          return true;
        }
        this.state = 'ground';
        if (byte >= 0x40 && byte <= 0x7e) {
          if (byte === 0x7e /* ~ */ && this.csiParams === '200') this.pasting = true;
          else if (byte === 0x7e && this.csiParams === '201') this.pasting = false;
          else this.unfollowed();
          return true;
        }
        // Not a CSI byte: the sequence was cut short; the byte is handled on its own.
        this.unfollowed();
        return false;
      case 'ss3':
        this.state = 'ground';
        this.unfollowed();
        return isPrintableAscii(byte);
      default:
        return false;
    }
  }

  private unfollowed(): void {
    // Stray sequences inside a paste are pasted bytes, not keys the user pressed.
    if (!this.pasting) this.exact = false;
  }

  private submit(lines: CapturedLine[]): void {
    // An empty but inexact line (history recalled, then Enter) still ran something we did not see.
    if (this.text !== '' || !this.exact) lines.push({ text: this.text, exact: this.exact });
    this.reset();
  }

  private reset(): void {
    this.truncate(0);
    this.exact = true;
  }

  /** Keeps the first `length` UTF-16 units, paying only for what is removed. */
  private truncate(length: number): void {
    this.bytes -= Buffer.byteLength(this.text.slice(length));
    this.text = this.text.slice(0, length);
  }

  private append(decoded: string): void {
    const text = decoded.replace(C1_CONTROLS, '');
    if (text === '') return;
    const size = Buffer.byteLength(text);
    if (this.bytes + size <= MAX_LINE_BYTES) {
      this.text += text;
      this.bytes += size;
      return;
    }
    this.exact = false;
    let kept = '';
    for (const char of text) {
      const charSize = Buffer.byteLength(char);
      if (this.bytes + charSize > MAX_LINE_BYTES) break;
      kept += char;
      this.bytes += charSize;
    }
    this.text += kept;
  }

  private deleteLastCodePoint(): void {
    if (this.text === '') return;
    const last = this.text.codePointAt(this.text.length - 1)!;
    // A low surrogate at the end is the second half of a pair: the code point spans two units.
    const units = last >= 0xdc00 && last <= 0xdfff && this.text.length >= 2 ? 2 : 1;
    this.truncate(this.text.length - units);
  }
}

function wordRuboutStart(text: string): number {
  let end = text.length;
  while (end > 0 && isBlank(text.charCodeAt(end - 1))) end -= 1;
  while (end > 0 && !isBlank(text.charCodeAt(end - 1))) end -= 1;
  return end;
}

function isBlank(unit: number): boolean {
  return unit === 0x20 || unit === TAB;
}

function isPrintableAscii(byte: number): boolean {
  return byte >= 0x20 && byte < DEL;
}
