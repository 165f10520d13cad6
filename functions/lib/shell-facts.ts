// Facts about a shell command line (the command string of `ssh host command`), taken from a real bash parser
// (mvdan.cc/sh/v3/syntax, shipped on npm as `mvdan-sh`, pinned at 0.10.1) for the Cedar policy to decide on.
//
// Design rules:
// - Never guess with regexes or by splitting on spaces: every command comes from the syntax tree.
// - Resolve words the way the shell would for literals (quotes removed, backslash escapes, $'…' decoded, brace
//   expansion done), but never evaluate parameter expansions or substitutions: a program name that depends on one
//   is reported in `dynamic`, and so is anything else that makes the command line unknowable before it runs.
// - When unsure, say more, not less: commands in every branch, loop body and function body are reported as if they
//   would run, and wrappers with options we do not know are reported as dynamic.
//
// Reading the tree: mvdan-sh wraps each Go value in a JS object whose getters are built per access (several
// microseconds each), so this module reads the GopherJS structs behind `__internal_object__` directly: a node is an
// object whose `constructor.string` is its Go type ('*syntax.CallExpr'), slices are {$array,$offset,$length}, nil
// pointers are `constructor.nil`, strings are UTF-8 byte strings. The package is pinned exactly and `selfCheck()`
// verifies this layout (and learns the operator numbers) once, before the first analysis; if it ever fails, every
// call returns ok:false, so the caller denies.

import mvdanSh, { type GoParseError, type Parser } from 'mvdan-sh';

export interface ShellCommandFact {
  /** The program word as written, quotes removed (e.g. '/bin/rm'); the source text when it is not a literal. */
  program: string;
  /** The arguments, quotes removed; an argument holding an expansion keeps that expansion's source text ('$HOME/x'). */
  args: string[];
  /** Variables assigned for this command: prefixes (`A=1 cmd`), `env A=1 cmd`, `sudo A=1 cmd`, and those of the
   *  commands it was reached through. sudo's env_reset is not modelled. */
  env: Record<string, string>;
  /** The wrappers it was reached through, outermost first: ['sudo', 'sh -c'], ['find -exec'], ['xargs'] … */
  via: string[];
}

export interface ShellFacts {
  /** Every simple command that could run, pre-order: a command, then what it wraps (sudo …, sh -c '…'), then the
   *  commands of the substitutions in its words. Includes pipelines, lists, subshells, blocks, every branch of
   *  if/case, loop and function bodies, $(…), `…`, <(…), >(…), scripts given to sh -c / bash -c / eval / su -c /
   *  trap / watch / env -S and heredocs fed to a shell (parsed recursively, up to MAX_NESTED_DEPTH levels). */
  commands: ShellCommandFact[];
  /** Unique program basenames, sorted ('/usr/bin/rm' → 'rm'); a program that is not a literal keeps its source
   *  text ('$CMD'), so an allow-list never matches it by accident. */
  programs: string[];
  /** Number of pipelines (`a | b | c` is one). */
  pipelines: number;
  /** Whether any command or process substitution ($(…), `…`, <(…), >(…)) occurs. */
  usesSubstitution: boolean;
  /** Files written by redirections (>, >>, >|, &>, &>>, <>, >&file), quotes removed, in order. */
  usesRedirectionToFile: string[];
  /** Whether a privilege-changing program runs: sudo, sudoedit, doas, su, runuser or pkexec. */
  sudo: boolean;
  /** Whether a shell runs as a program (sh, bash, … also through sudo -s/-i, su, chroot). */
  nestedShell: boolean;
  /** Names of the variables set by prefixes (`A=1 cmd`, `env A=1 cmd`, `sudo A=1 cmd`), unique, in order. */
  envPrefixes: string[];
  /** Why the command line cannot be fully known before it runs; empty when it can. */
  dynamic: string[];
}

export type ShellFactsResult = { ok: true; facts: ShellFacts } | { ok: false; error: string };

/** How deep scripts inside scripts (sh -c, eval, …) are followed; one level deeper is reported as dynamic. */
export const MAX_NESTED_DEPTH = 5;
/** Longest command line accepted, in UTF-8 bytes (Linux's limit for one argv string, MAX_ARG_STRLEN). */
export const MAX_COMMAND_BYTES = 131_072;
/** Most words one word may brace-expand into before it is reported as dynamic. */
const MAX_BRACE_WORDS = 1024;

// ---------------------------------------------------------------------------------------------------------------
// The GopherJS representation (see the header).

interface GoFieldType {
  readonly kind: number;
  readonly elem?: { readonly kind: number };
}
interface GoType {
  readonly string?: string;
  readonly nil?: unknown;
  readonly elem?: { readonly fields?: ReadonlyArray<{ readonly prop: string; readonly typ: GoFieldType }> };
}
interface GoNode {
  readonly constructor: GoType;
  readonly [field: string]: unknown;
}
interface GoSlice {
  readonly $array: unknown[];
  readonly $offset: number;
  readonly $length: number;
}
interface GoPos {
  Offset(): number;
}

const KIND_INTERFACE = 20;
const KIND_PTR = 22;
const KIND_SLICE = 23;

function isNode(value: unknown): value is GoNode {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { constructor?: GoType }).constructor;
  return type !== undefined && typeof type.string === 'string' && type.string.startsWith('*syntax.') && value !== type.nil;
}

const typeNames = new Map<GoType, string>();
function typeName(node: GoNode): string {
  let name = typeNames.get(node.constructor);
  if (name === undefined) {
    name = (node.constructor.string ?? '').replace(/^\*syntax\./, '');
    typeNames.set(node.constructor, name);
  }
  return name;
}

function child(node: GoNode, field: string): GoNode | undefined {
  const value = node[field];
  return isNode(value) ? value : undefined;
}

function list(node: GoNode, field: string): GoNode[] {
  const value = node[field] as GoSlice | undefined;
  const out: GoNode[] = [];
  if (value === undefined || value === null || !Array.isArray(value.$array)) return out;
  for (let i = 0; i < value.$length; i++) {
    const item = value.$array[value.$offset + i];
    if (isNode(item)) out.push(item);
  }
  return out;
}

/** Go strings are UTF-8 byte strings in GopherJS. */
function decodeGoString(raw: string): string {
  return /[\x80-\xff]/.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
}
function rawString(node: GoNode | undefined, field: string): string {
  const value = node?.[field];
  return typeof value === 'string' ? value : '';
}
function goString(node: GoNode | undefined, field: string): string {
  return decodeGoString(rawString(node, field));
}
function goNumber(node: GoNode | undefined, field: string): number {
  const value = node?.[field];
  return typeof value === 'number' ? value : -1;
}
function goBool(node: GoNode, field: string): boolean {
  return node[field] === true;
}
function startOffset(node: GoNode): number {
  return (node as unknown as { Pos(): GoPos }).Pos().Offset();
}
function endOffset(node: GoNode): number {
  return (node as unknown as { End(): GoPos }).End().Offset();
}

/** The fields of a node type that can hold other nodes (pointers, interfaces, slices of either), in field order. */
const childFields = new Map<GoType, string[]>();
function nodeFields(node: GoNode): string[] {
  let fields = childFields.get(node.constructor);
  if (fields === undefined) {
    fields = [];
    for (const field of node.constructor.elem?.fields ?? []) {
      const kind = field.typ.kind;
      const elem = field.typ.elem?.kind;
      if (kind === KIND_PTR || kind === KIND_INTERFACE) fields.push(field.prop);
      else if (kind === KIND_SLICE && (elem === KIND_PTR || elem === KIND_INTERFACE)) fields.push(field.prop);
    }
    childFields.set(node.constructor, fields);
  }
  return fields;
}

/** A source text addressed by the parser's byte offsets. */
class Source {
  private bytes: Buffer | undefined;
  private readonly ascii: boolean;
  constructor(readonly text: string) {
    this.ascii = !/[^\x00-\x7f]/.test(text);
  }
  slice(start: number, end: number): string {
    if (this.ascii) return this.text.slice(start, end);
    this.bytes ??= Buffer.from(this.text, 'utf8');
    return this.bytes.subarray(start, end).toString('utf8');
  }
  of(node: GoNode): string {
    return this.slice(startOffset(node), endOffset(node));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The parser, its operator numbers, and a check of the representation.

interface Ops {
  and: number;
  or: number;
  pipe: number;
  pipeAll: number;
  rdrOut: number;
  appOut: number;
  clbOut: number;
  rdrAll: number;
  appAll: number;
  rdrInOut: number;
  dplOut: number;
  dplIn: number;
  rdrIn: number;
  hdoc: number;
  dashHdoc: number;
  wordHdoc: number;
}
interface Runtime {
  parser: Parser;
  ops: Ops;
  writeOps: Set<number>;
}

let runtime: { ok: true; value: Runtime } | { ok: false; error: string } | undefined;

function parseTree(parser: Parser, text: string): GoNode {
  const root = parser.Parse(text, '').__internal_object__;
  if (!isNode(root) || typeName(root) !== 'File') throw new Error('unexpected tree from the shell parser');
  return root;
}

function selfCheck(): Runtime {
  const parser = mvdanSh.syntax.NewParser(mvdanSh.syntax.KeepComments(false), mvdanSh.syntax.Variant(mvdanSh.syntax.LangBash));
  const first = (text: string): GoNode => {
    const stmt = list(parseTree(parser, text), 'Stmts')[0];
    if (stmt === undefined || typeName(stmt) !== 'Stmt') throw new Error(`no statement in ${JSON.stringify(text)}`);
    return stmt;
  };
  const binary = (text: string): number => {
    const cmd = child(first(text), 'Cmd');
    if (cmd === undefined || typeName(cmd) !== 'BinaryCmd') throw new Error(`no BinaryCmd in ${JSON.stringify(text)}`);
    return goNumber(cmd, 'Op');
  };
  const redirect = (text: string): number => {
    const redir = list(first(text), 'Redirs')[0];
    if (redir === undefined || typeName(redir) !== 'Redirect') throw new Error(`no Redirect in ${JSON.stringify(text)}`);
    return goNumber(redir, 'Op');
  };
  const ops: Ops = {
    and: binary('a && b'),
    or: binary('a || b'),
    pipe: binary('a | b'),
    pipeAll: binary('a |& b'),
    rdrOut: redirect('a > f'),
    appOut: redirect('a >> f'),
    clbOut: redirect('a >| f'),
    rdrAll: redirect('a &> f'),
    appAll: redirect('a &>> f'),
    rdrInOut: redirect('a <> f'),
    dplOut: redirect('a >& f'),
    dplIn: redirect('a <& 0'),
    rdrIn: redirect('a < f'),
    hdoc: redirect('a <<E\nx\nE\n'),
    dashHdoc: redirect('a <<-E\nx\nE\n'),
    wordHdoc: redirect('a <<< w'),
  };
  const values = Object.values(ops);
  if (values.some((v) => v < 0) || new Set(values).size !== values.length) throw new Error('operator numbers are not distinct');
  // The shape this module relies on: words, literal parts with byte offsets, quoting, UTF-8 strings.
  const call = child(first("é 'x' \"y\" $'z' $v"), 'Cmd');
  const words = call === undefined ? [] : list(call, 'Args');
  const parts = words.map((w) => list(w, 'Parts').map(typeName).join(','));
  if (parts.join(' ') !== 'Lit SglQuoted DblQuoted SglQuoted ParamExp') throw new Error(`unexpected word parts: ${parts.join(' ')}`);
  const lit = list(words[0]!, 'Parts')[0]!;
  if (goString(lit, 'Value') !== 'é' || startOffset(lit) !== 0 || endOffset(lit) !== 2) throw new Error('unexpected literal layout');
  if (goBool(list(words[1]!, 'Parts')[0]!, 'Dollar') || !goBool(list(words[3]!, 'Parts')[0]!, 'Dollar')) throw new Error("unexpected $'…' layout");
  return { parser, ops, writeOps: new Set([ops.rdrOut, ops.appOut, ops.clbOut, ops.rdrAll, ops.appAll, ops.rdrInOut]) };
}

function getRuntime(): { ok: true; value: Runtime } | { ok: false; error: string } {
  if (runtime === undefined) {
    try {
      runtime = { ok: true, value: selfCheck() };
    } catch (error) {
      runtime = { ok: false, error: `shell parser self-check failed: ${errorMessage(error)}` };
    }
  }
  return runtime;
}

function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as GoParseError).Error === 'function') {
    try {
      return decodeGoString(String((error as GoParseError).Error()));
    } catch {
      // fall through
    }
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

// ---------------------------------------------------------------------------------------------------------------
// Words.

type DynKind = 'variable' | 'substitution' | 'arithmetic' | 'replacement' | 'brace' | 'other';

/** One word after quote removal and brace expansion. */
interface Arg {
  text: string;
  /** No expansion, substitution or run-time replacement in it. */
  literal: boolean;
  /** Contains an unquoted glob pattern. */
  glob: boolean;
  /** The first kind of non-literal part, when not literal. */
  dyn?: DynKind;
  /** Who fills it in at run time (xargs, find), for dyn === 'replacement'. */
  filler?: string;
}

/** A character (quoted or not) or a part that is not known statically. */
type Tok = { c: string; q: boolean } | { d: string; kind: DynKind; glob?: boolean };

type Mode = 'unquoted' | 'dquoted' | 'heredoc';

function decodeAnsiC(raw: string): string {
  // raw is a Go byte string: each char is one byte.
  const bytes: number[] = [];
  const pushText = (text: string) => {
    for (const b of Buffer.from(text, 'utf8')) bytes.push(b);
  };
  const hexRun = (start: number, max: number): [number, number] => {
    let end = start;
    while (end < raw.length && end - start < max && /[0-9a-fA-F]/.test(raw[end]!)) end++;
    return [end, end > start ? parseInt(raw.slice(start, end), 16) : -1];
  };
  let i = 0;
  while (i < raw.length) {
    const ch = raw.charCodeAt(i);
    if (ch !== 0x5c /* \ */ || i + 1 >= raw.length) {
      bytes.push(ch & 0xff);
      i++;
      continue;
    }
    const esc = raw[i + 1]!;
    i += 2;
    const simple: Record<string, number> = { a: 7, b: 8, e: 27, E: 27, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
    if (simple[esc] !== undefined) {
      bytes.push(simple[esc]!);
    } else if (esc === 'c' && i < raw.length) {
      bytes.push(raw.charCodeAt(i) & 0x1f);
      i++;
    } else if (esc === 'x') {
      const [end, value] = hexRun(i, 2);
      if (value < 0) bytes.push(0x5c, 0x78);
      else bytes.push(value);
      i = end;
    } else if (esc === 'u' || esc === 'U') {
      const [end, value] = hexRun(i, esc === 'u' ? 4 : 8);
      if (value < 0 || value > 0x10ffff) pushText(`\\${esc}`);
      else pushText(String.fromCodePoint(value));
      i = end;
    } else if (esc >= '0' && esc <= '7') {
      let end = i;
      while (end < raw.length && end - i < 2 && raw[end]! >= '0' && raw[end]! <= '7') end++;
      bytes.push(parseInt(esc + raw.slice(i, end), 8) & 0xff);
      i = end;
    } else {
      bytes.push(0x5c, esc.charCodeAt(0) & 0xff);
    }
  }
  const nul = bytes.indexOf(0); // bash ends the string at a NUL byte
  return Buffer.from(nul >= 0 ? bytes.slice(0, nul) : bytes).toString('utf8');
}

function dynKindOf(type: string): DynKind {
  if (type === 'ParamExp') return 'variable';
  if (type === 'CmdSubst' || type === 'ProcSubst') return 'substitution';
  if (type === 'ArithmExp') return 'arithmetic';
  return 'other';
}

function pushLiteralChars(out: Tok[], value: string, mode: Mode): void {
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '\\' || i + 1 >= value.length) {
      out.push({ c, q: mode !== 'unquoted' });
      continue;
    }
    const next = value[i + 1]!;
    if (next === '\n') {
      i++; // line continuation
    } else if (mode === 'unquoted' || next === '$' || next === '`' || next === '\\' || (mode === 'dquoted' && next === '"')) {
      out.push({ c: next, q: true });
      i++;
    } else {
      out.push({ c: '\\', q: true });
    }
  }
}

function tokenize(parts: GoNode[], mode: Mode, src: Source, out: Tok[]): Tok[] {
  for (const part of parts) {
    const type = typeName(part);
    if (type === 'Lit') {
      pushLiteralChars(out, goString(part, 'Value'), mode);
    } else if (type === 'SglQuoted') {
      const value = goBool(part, 'Dollar') ? decodeAnsiC(rawString(part, 'Value')) : goString(part, 'Value');
      for (const c of value) out.push({ c, q: true });
    } else if (type === 'DblQuoted') {
      tokenize(list(part, 'Parts'), 'dquoted', src, out);
    } else if (type === 'ExtGlob') {
      out.push({ d: src.of(part), kind: 'other', glob: true });
    } else {
      out.push({ d: src.of(part), kind: dynKindOf(type) });
    }
  }
  return out;
}

function isUnquoted(tok: Tok | undefined, c: string): boolean {
  return tok !== undefined && 'c' in tok && !tok.q && tok.c === c;
}

class BraceOverflow extends Error {}

/** Bash brace expansion over quoted/unquoted characters: {a,b}, nested, and sequences {1..5}, {a..e}, {01..10..2}. */
function braceExpand(toks: Tok[], budget: { left: number }): Tok[][] {
  for (let open = 0; open < toks.length; open++) {
    if (!isUnquoted(toks[open], '{')) continue;
    let depth = 0;
    let close = -1;
    const commas: number[] = [];
    for (let k = open + 1; k < toks.length; k++) {
      if (isUnquoted(toks[k], '{')) depth++;
      else if (isUnquoted(toks[k], '}')) {
        if (depth === 0) {
          close = k;
          break;
        }
        depth--;
      } else if (depth === 0 && isUnquoted(toks[k], ',')) commas.push(k);
    }
    if (close < 0) continue;
    const prefix = toks.slice(0, open);
    const suffix = toks.slice(close + 1);
    let alternatives: Tok[][] | undefined;
    if (commas.length > 0) {
      alternatives = [];
      let from = open + 1;
      for (const comma of [...commas, close]) {
        alternatives.push(toks.slice(from, comma));
        from = comma + 1;
      }
    } else {
      const inner = toks.slice(open + 1, close);
      if (inner.every((t) => 'c' in t && !t.q)) {
        const items = sequence(inner.map((t) => ('c' in t ? t.c : '')).join(''));
        if (items !== undefined) alternatives = items.map((item) => [...item].map((c) => ({ c, q: true })));
      }
    }
    if (alternatives === undefined) continue;
    const out: Tok[][] = [];
    for (const alternative of alternatives) {
      for (const expanded of braceExpand([...prefix, ...alternative, ...suffix], budget)) {
        if (--budget.left < 0) throw new BraceOverflow();
        out.push(expanded);
      }
    }
    return out;
  }
  return [toks];
}

function sequence(body: string): string[] | undefined {
  const numeric = /^([+-]?\d+)\.\.([+-]?\d+)(?:\.\.([+-]?\d+))?$/.exec(body);
  const chars = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.([+-]?\d+))?$/.exec(body);
  const match = numeric ?? chars;
  if (match === null) return undefined;
  const from = numeric ? Number(match[1]) : match[1]!.charCodeAt(0);
  const to = numeric ? Number(match[2]) : match[2]!.charCodeAt(0);
  const step = Math.abs(Number(match[3] ?? 1)) || 1;
  const count = Math.floor(Math.abs(to - from) / step) + 1;
  if (count > MAX_BRACE_WORDS) throw new BraceOverflow();
  const width = numeric && /^[+-]?0\d/.test(match[1]!) ? match[1]!.replace(/^[+-]/, '').length : 0;
  const width2 = numeric && /^[+-]?0\d/.test(match[2]!) ? match[2]!.replace(/^[+-]/, '').length : 0;
  const pad = Math.max(width, width2);
  const out: string[] = [];
  for (let i = 0, v = from; i < count; i++, v += from <= to ? step : -step) {
    if (!numeric) out.push(String.fromCharCode(v));
    else out.push(v < 0 ? `-${String(-v).padStart(pad - 1, '0')}` : String(v).padStart(pad, '0'));
  }
  return out;
}

function argOf(toks: Tok[]): Arg {
  let text = '';
  let literal = true;
  let glob = false;
  let dyn: DynKind | undefined;
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i]!;
    if ('d' in tok) {
      text += tok.d;
      if (tok.glob) glob = true;
      else {
        literal = false;
        dyn ??= tok.kind;
      }
      continue;
    }
    text += tok.c;
    if (!tok.q && (tok.c === '*' || tok.c === '?')) glob = true;
    if (!tok.q && tok.c === '[' && toks.slice(i + 1).some((t) => isUnquoted(t, ']'))) glob = true;
  }
  const arg: Arg = { text, literal, glob };
  if (dyn !== undefined) arg.dyn = dyn;
  return arg;
}

/** A word without brace expansion (assignment values, redirection targets, heredoc bodies). */
function wordArg(word: GoNode | undefined, src: Source, mode: Mode = 'unquoted'): Arg {
  if (word === undefined) return { text: '', literal: true, glob: false };
  const parts = list(word, 'Parts');
  if (parts.length === 1 && typeName(parts[0]!) === 'Lit') {
    const value = goString(parts[0]!, 'Value');
    if (!/[\\*?[]/.test(value)) return { text: value, literal: true, glob: false };
  }
  return argOf(tokenize(parts, mode, src, []));
}

/** A command word: quote removal and brace expansion, so one word may become several. */
function commandWords(word: GoNode, src: Source): Arg[] {
  const parts = list(word, 'Parts');
  if (parts.length === 1 && typeName(parts[0]!) === 'Lit') {
    const value = goString(parts[0]!, 'Value');
    if (!/[\\*?[{]/.test(value)) return [{ text: value, literal: true, glob: false }];
  }
  const toks = tokenize(parts, 'unquoted', src, []);
  if (!toks.some((t) => isUnquoted(t, '{'))) return [argOf(toks)];
  try {
    return braceExpand(toks, { left: MAX_BRACE_WORDS }).map(argOf);
  } catch (error) {
    if (!(error instanceof BraceOverflow)) throw error;
    return [{ text: src.of(word), literal: false, glob: false, dyn: 'brace' }];
  }
}

function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  return base === '' ? path : base;
}

// ---------------------------------------------------------------------------------------------------------------
// The walk.

interface Acc {
  commands: ShellCommandFact[];
  programs: Set<string>;
  pipelines: number;
  usesSubstitution: boolean;
  redirections: string[];
  sudo: boolean;
  nestedShell: boolean;
  envPrefixes: Set<string>;
  dynamic: Set<string>;
  pipeContinuations: Set<GoNode>;
  rt: Runtime;
}

interface Ctx {
  src: Source;
  depth: number;
  via: string[];
  env: Record<string, string>;
  acc: Acc;
}

/** Variables whose value changes which program runs or injects code. */
const RISKY_VARIABLES = new Set([
  'PATH',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'BASH_ENV',
  'ENV',
  'PROMPT_COMMAND',
  'PS4',
  'SHELLOPTS',
  'BASHOPTS',
  'GLOBIGNORE',
]);

function noteVariable(name: string, acc: Acc): void {
  if (RISKY_VARIABLES.has(name) || name.startsWith('BASH_FUNC_')) acc.dynamic.add(`sets ${name}, which changes what runs`);
}

function walkFile(file: GoNode, ctx: Ctx): void {
  for (const stmt of list(file, 'Stmts')) visit(stmt, ctx, undefined);
}

function visitChildren(node: GoNode, ctx: Ctx, stmt: GoNode | undefined): void {
  for (const field of nodeFields(node)) {
    const value = node[field];
    if ((value as GoSlice | null)?.$array !== undefined) {
      for (const item of list(node, field)) visit(item, ctx, stmt);
    } else if (isNode(value)) {
      visit(value, ctx, stmt);
    }
  }
}

function visit(node: GoNode, ctx: Ctx, stmt: GoNode | undefined): void {
  const { acc } = ctx;
  switch (typeName(node)) {
    case 'Stmt':
      visitChildren(node, ctx, node);
      return;
    case 'CallExpr':
      handleCall(node, ctx, stmt);
      break;
    case 'BinaryCmd': {
      const op = goNumber(node, 'Op');
      if (op === acc.rt.ops.pipe || op === acc.rt.ops.pipeAll) {
        if (!acc.pipeContinuations.has(node)) acc.pipelines++;
        for (const side of ['X', 'Y']) {
          const cmd = child(child(node, side) ?? node, 'Cmd');
          if (cmd !== undefined && typeName(cmd) === 'BinaryCmd') {
            const inner = goNumber(cmd, 'Op');
            if (inner === acc.rt.ops.pipe || inner === acc.rt.ops.pipeAll) acc.pipeContinuations.add(cmd);
          }
        }
      }
      break;
    }
    case 'CmdSubst':
    case 'ProcSubst':
      acc.usesSubstitution = true;
      break;
    case 'Redirect':
      handleRedirect(node, ctx);
      break;
    case 'FuncDecl':
      acc.dynamic.add(`defines shell function ${goString(child(node, 'Name'), 'Value')}`);
      break;
    case 'DeclClause':
      handleDecl(node, ctx);
      break;
    default:
      break;
  }
  visitChildren(node, ctx, undefined);
}

function handleRedirect(redirect: GoNode, ctx: Ctx): void {
  const { ops, writeOps } = ctx.acc.rt;
  const op = goNumber(redirect, 'Op');
  if (!writeOps.has(op) && op !== ops.dplOut) return;
  const target = wordArg(child(redirect, 'Word'), ctx.src);
  if (op === ops.dplOut && /^(\d+-?|-)$/.test(target.text)) return; // >&2, >&-: a descriptor, not a file
  ctx.acc.redirections.push(target.text);
  if (!target.literal) ctx.acc.dynamic.add(`redirection target is not a literal (${target.text})`);
}

function handleDecl(decl: GoNode, ctx: Ctx): void {
  const variant = goString(child(decl, 'Variant'), 'Value');
  const args: string[] = [];
  for (const assign of list(decl, 'Args')) {
    args.push(ctx.src.of(assign));
    const name = child(assign, 'Name');
    if (name !== undefined) noteVariable(goString(name, 'Value'), ctx.acc);
  }
  ctx.acc.commands.push({ program: variant, args, env: { ...ctx.env }, via: [...ctx.via] });
  ctx.acc.programs.add(variant);
}

function handleCall(call: GoNode, ctx: Ctx, stmt: GoNode | undefined): void {
  const words = list(call, 'Args');
  const env: Record<string, string> = { ...ctx.env };
  for (const assign of list(call, 'Assigns')) {
    const name = goString(child(assign, 'Name'), 'Value');
    noteVariable(name, ctx.acc);
    if (words.length === 0) continue; // a plain assignment, not a prefix
    const array = child(assign, 'Array');
    env[name] = array !== undefined ? ctx.src.of(array) : wordArg(child(assign, 'Value'), ctx.src).text;
    ctx.acc.envPrefixes.add(name);
  }
  if (words.length === 0) return;
  const args = words.flatMap((word) => commandWords(word, ctx.src));
  runCommand(args, env, ctx.via, stmt, ctx);
}

function programReason(arg: Arg): string {
  switch (arg.dyn) {
    case 'variable':
      return `program is a variable (${arg.text})`;
    case 'substitution':
      return `program comes from a command substitution (${arg.text})`;
    case 'arithmetic':
      return `program comes from an arithmetic expansion (${arg.text})`;
    case 'replacement':
      return `program is filled in at run time by ${arg.filler ?? 'a wrapper'} (${arg.text})`;
    case 'brace':
      return `program is a brace expansion too large to list (${arg.text})`;
    case 'other':
      return `program is not a literal word (${arg.text})`;
    default:
      return arg.glob ? `program is a glob pattern (${arg.text})` : `program is not a literal word (${arg.text})`;
  }
}

/** A command (program and arguments, already resolved): record it, then follow what it runs. */
function runCommand(args: Arg[], env: Record<string, string>, via: string[], stmt: GoNode | undefined, ctx: Ctx): void {
  const [program, ...rest] = args;
  if (program === undefined) return;
  const { acc } = ctx;
  acc.commands.push({ program: program.text, args: rest.map((a) => a.text), env: { ...env }, via: [...via] });
  if (!program.literal || program.glob) {
    acc.programs.add(program.text);
    acc.dynamic.add(programReason(program));
    return;
  }
  const name = basename(program.text);
  acc.programs.add(name);
  if (PRIVILEGE.has(name)) acc.sudo = true;
  const handler = HANDLERS.get(name) ?? (SHELLS.has(name) ? handleShell : INTERPRETERS.has(name) || /^python[\d.]*$/.test(name) ? handleInterpreter : undefined);
  handler?.({ name, args: rest, env, via, stmt, ctx });
}

interface Invocation {
  name: string;
  args: Arg[];
  env: Record<string, string>;
  via: string[];
  stmt: GoNode | undefined;
  ctx: Ctx;
}

/** Parses a script given as a string (sh -c, eval, …) and walks it one level deeper. */
function runScript(script: Arg, what: string, via: string[], env: Record<string, string>, ctx: Ctx): void {
  const { acc } = ctx;
  if (!script.literal) acc.dynamic.add(`${what} with a non-literal script`);
  if (ctx.depth + 1 > MAX_NESTED_DEPTH) {
    acc.dynamic.add(`scripts nested deeper than ${MAX_NESTED_DEPTH} levels`);
    return;
  }
  let file: GoNode;
  try {
    file = parseTree(acc.rt.parser, script.text);
  } catch (error) {
    acc.dynamic.add(`${what} script does not parse: ${errorMessage(error)}`);
    return;
  }
  walkFile(file, { src: new Source(script.text), depth: ctx.depth + 1, via, env, acc });
}

// --- Options of wrappers --------------------------------------------------------------------------------------

interface OptionSpec {
  /** Short options without a value. */
  flags?: string;
  /** Short options with a value (attached or next argument). */
  withValue?: string;
  /** Short options with an optional, attached value. */
  optionalValue?: string;
  /** Long options: name → canonical name, suffixed ':' when it takes a value, '?' when the value is optional. */
  long?: Record<string, string>;
  /** `-NUM` is an option (nice). */
  numeric?: boolean;
  /** `-` alone is an option (env). */
  dashAlone?: boolean;
  /** Options may follow operands (GNU getopt permutation, su). */
  permute?: boolean;
}

interface ParsedOptions {
  /** Canonical option name → its value (an Arg, since a value taken from the next argument may not be literal). */
  options: Map<string, Arg | true>;
  operands: Arg[];
  unknown: string[];
}

function parseOptions(args: Arg[], spec: OptionSpec): ParsedOptions {
  const options = new Map<string, Arg | true>();
  const attached = (text: string): Arg => ({ text, literal: true, glob: false });
  const next = (): Arg => args[i++] ?? attached('');
  const operands: Arg[] = [];
  const unknown: string[] = [];
  let i = 0;
  while (i < args.length) {
    const arg = args[i]!;
    const text = arg.text;
    if (!arg.literal || !text.startsWith('-') || (text === '-' && !spec.dashAlone)) {
      if (!spec.permute) break;
      operands.push(arg);
      i++;
      continue;
    }
    if (text === '--') {
      i++;
      break;
    }
    i++;
    if (text === '-') {
      options.set('-', true);
    } else if (spec.numeric && /^--?\d+$/.test(text)) {
      options.set('n', attached(text.slice(1)));
    } else if (text.startsWith('--')) {
      const eq = text.indexOf('=');
      const name = text.slice(2, eq >= 0 ? eq : undefined);
      const long = spec.long ?? {};
      const candidates = Object.keys(long).filter((key) => key.startsWith(name));
      const key = long[name] !== undefined ? name : candidates.length === 1 ? candidates[0]! : undefined;
      if (key === undefined) {
        unknown.push(text);
        continue;
      }
      const target = long[key]!;
      const canonical = target.replace(/[:?]$/, '');
      if (eq >= 0) options.set(canonical, attached(text.slice(eq + 1)));
      else if (target.endsWith(':')) options.set(canonical, next());
      else options.set(canonical, true);
    } else {
      for (let k = 1; k < text.length; k++) {
        const c = text[k]!;
        if (spec.withValue?.includes(c)) {
          options.set(c, k + 1 < text.length ? attached(text.slice(k + 1)) : next());
          break;
        }
        if (spec.optionalValue?.includes(c)) {
          options.set(c, k + 1 < text.length ? attached(text.slice(k + 1)) : true);
          break;
        }
        if (spec.flags?.includes(c)) options.set(c, true);
        else unknown.push(`-${c}`);
      }
    }
  }
  operands.push(...args.slice(i));
  return { options, operands, unknown };
}

function reportUnknown(name: string, parsed: ParsedOptions, acc: Acc): void {
  for (const option of parsed.unknown) acc.dynamic.add(`unrecognized option ${option} for ${name}`);
}

/** A wrapper that parses options and then runs its operands as a command. */
function wrapper(spec: OptionSpec, options: { skip?: number; stopIf?: string[]; label?: string } = {}) {
  return (inv: Invocation): void => {
    const parsed = parseOptions(inv.args, spec);
    reportUnknown(inv.name, parsed, inv.ctx.acc);
    if (options.stopIf?.some((o) => parsed.options.has(o))) return;
    runCommand(parsed.operands.slice(options.skip ?? 0), inv.env, [...inv.via, options.label ?? inv.name], inv.stmt, inv.ctx);
  };
}

function takeAssignments(operands: Arg[], env: Record<string, string>, acc: Acc, anyEquals: boolean): Arg[] {
  let i = 0;
  for (; i < operands.length; i++) {
    const text = operands[i]!.text;
    const eq = text.indexOf('=');
    if (eq <= 0 || (!anyEquals && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(text))) break;
    const name = text.slice(0, eq);
    env[name] = text.slice(eq + 1);
    acc.envPrefixes.add(name);
    noteVariable(name, acc);
  }
  return operands.slice(i);
}

function quoteForShell(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

const SUDO: OptionSpec = {
  flags: 'ABbEeHiKklNnPSsVv',
  withValue: 'CDgpRrTtUuac',
  optionalValue: 'h',
  long: {
    askpass: 'A',
    bell: 'B',
    background: 'b',
    'close-from': 'C:',
    chdir: 'D:',
    'preserve-env': 'E?',
    edit: 'e',
    group: 'g:',
    'set-home': 'H',
    help: 'h',
    host: 'h:',
    login: 'i',
    'remove-timestamp': 'K',
    'reset-timestamp': 'k',
    list: 'l',
    'no-update': 'N',
    'non-interactive': 'n',
    'preserve-groups': 'P',
    prompt: 'p:',
    chroot: 'R:',
    role: 'r:',
    stdin: 'S',
    shell: 's',
    type: 't:',
    'command-timeout': 'T:',
    'other-user': 'U:',
    user: 'u:',
    version: 'V',
    validate: 'v',
    'auth-type': 'a:',
    'login-class': 'c:',
  },
};

function handleSudo(inv: Invocation): void {
  const { acc } = inv.ctx;
  if (inv.name === 'sudoedit') return; // edits files, runs no command
  const parsed = parseOptions(inv.args, inv.name === 'doas' ? { flags: 'Lns', withValue: 'Cu' } : SUDO);
  reportUnknown(inv.name, parsed, acc);
  const o = parsed.options;
  if (o.has('e') || o.has('l') || o.has('L') || o.has('V') || o.has('v') || o.get('h') === true) return;
  const env = { ...inv.env };
  const command = inv.name === 'doas' ? parsed.operands : takeAssignments(parsed.operands, env, acc, false);
  const shell = o.has('s') || o.has('i');
  if (command.length === 0) {
    if (shell) {
      acc.nestedShell = true;
      acc.dynamic.add(`${inv.name} -${o.has('s') ? 's' : 'i'} starts a shell reading commands from stdin`);
    }
    return;
  }
  if (shell) acc.nestedShell = true; // the command runs through the target user's shell
  runCommand(command, env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

function handlePkexec(inv: Invocation): void {
  const parsed = parseOptions(inv.args, {
    long: { user: 'user:', 'disable-internal-agent': 'disable-internal-agent', 'keep-cwd': 'keep-cwd', help: 'help', version: 'version' },
  });
  reportUnknown(inv.name, parsed, inv.ctx.acc);
  if (parsed.options.has('help') || parsed.options.has('version')) return;
  if (parsed.operands.length === 0) {
    inv.ctx.acc.nestedShell = true;
    inv.ctx.acc.dynamic.add('pkexec without a command starts a shell');
    return;
  }
  runCommand(parsed.operands, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

function handleSu(inv: Invocation): void {
  const { acc } = inv.ctx;
  const parsed = parseOptions(inv.args, {
    flags: 'flmpP',
    withValue: inv.name === 'runuser' ? 'cgGswu' : 'cgGsw',
    dashAlone: true,
    permute: inv.name !== 'runuser',
    long: {
      command: 'c:',
      'session-command': 'c:',
      group: 'g:',
      'supp-group': 'G:',
      shell: 's:',
      'whitelist-environment': 'w:',
      login: 'l',
      'preserve-environment': 'm',
      pty: 'P',
      fast: 'f',
      user: 'u:',
      help: 'help',
      version: 'version',
    },
  });
  reportUnknown(inv.name, parsed, acc);
  if (parsed.options.has('help') || parsed.options.has('version')) return;
  const script = parsed.options.get('c');
  if (script !== undefined && script !== true) {
    acc.nestedShell = true;
    runScript(script, `${inv.name} -c`, [...inv.via, `${inv.name} -c`], inv.env, inv.ctx);
    return;
  }
  if (inv.name === 'runuser' && parsed.options.has('u') && parsed.operands.length > 0) {
    runCommand(parsed.operands, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
    return;
  }
  acc.nestedShell = true;
  acc.dynamic.add(`${inv.name} starts a shell reading commands from stdin`);
}

const ENV: OptionSpec = {
  flags: '0iv',
  withValue: 'CSua',
  dashAlone: true,
  long: {
    'ignore-environment': 'i',
    null: '0',
    debug: 'v',
    chdir: 'C:',
    'split-string': 'S:',
    unset: 'u:',
    argv0: 'a:',
    'block-signal': 'block-signal?',
    'default-signal': 'default-signal?',
    'ignore-signal': 'ignore-signal?',
    'list-signal-handling': 'list-signal-handling',
    help: 'help',
    version: 'version',
  },
};

function handleEnv(inv: Invocation): void {
  const { acc } = inv.ctx;
  const parsed = parseOptions(inv.args, ENV);
  reportUnknown(inv.name, parsed, acc);
  if (parsed.options.has('help') || parsed.options.has('version')) return;
  const env = parsed.options.has('i') || parsed.options.has('-') ? {} : { ...inv.env };
  const unset = parsed.options.get('u');
  if (unset !== undefined && unset !== true) delete env[unset.text];
  const command = takeAssignments(parsed.operands, env, acc, true); // GNU env takes every operand with '=' as one
  const split = parsed.options.get('S');
  if (split !== undefined && split !== true) {
    acc.dynamic.add('env -S splits a string into a command line');
    const literal = split.literal && command.every((a) => a.literal);
    const text = [split.text, ...command.map((a) => quoteForShell(a.text))].join(' ');
    runScript({ text, literal, glob: false }, 'env -S', [...inv.via, 'env -S'], env, inv.ctx);
    return;
  }
  runCommand(command, env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

const XARGS: OptionSpec = {
  flags: '0prtxo',
  withValue: 'aEIdLnPs',
  optionalValue: 'eil',
  long: {
    null: '0',
    'arg-file': 'a:',
    delimiter: 'd:',
    eof: 'e?',
    replace: 'i?',
    'max-lines': 'l?',
    'max-args': 'n:',
    'max-procs': 'P:',
    'max-chars': 's:',
    interactive: 'p',
    'no-run-if-empty': 'r',
    verbose: 't',
    exit: 'x',
    'open-tty': 'o',
    'show-limits': 'show-limits',
    'process-slot-var': 'process-slot-var:',
    help: 'help',
    version: 'version',
  },
};

function markReplaced(args: Arg[], marker: string, filler: string): Arg[] {
  return args.map((a) => (a.text.includes(marker) ? { ...a, literal: false, dyn: a.dyn ?? 'replacement', filler } : a));
}

function handleXargs(inv: Invocation): void {
  const parsed = parseOptions(inv.args, XARGS);
  reportUnknown(inv.name, parsed, inv.ctx.acc);
  if (parsed.options.has('help') || parsed.options.has('version')) return;
  const replace = parsed.options.get('I') ?? parsed.options.get('i');
  let command = parsed.operands.length > 0 ? parsed.operands : [{ text: 'echo', literal: true, glob: false }];
  if (replace !== undefined) command = markReplaced(command, replace === true ? '{}' : replace.text, 'xargs');
  runCommand(command, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

function handleFind(inv: Invocation): void {
  const args = inv.args;
  for (let i = 0; i < args.length; i++) {
    const action = args[i]!;
    if (!action.literal || !['-exec', '-execdir', '-ok', '-okdir'].includes(action.text)) continue;
    let end = i + 1;
    while (end < args.length && !(args[end]!.text === ';' || (args[end]!.text === '+' && args[end - 1]?.text === '{}'))) end++;
    const command = markReplaced(args.slice(i + 1, end), '{}', 'find');
    runCommand(command, inv.env, [...inv.via, `find ${action.text}`], inv.stmt, inv.ctx);
    i = end;
  }
}

function handleBusybox(inv: Invocation): void {
  const applet = inv.args[0];
  if (applet === undefined || applet.text.startsWith('-')) return;
  runCommand(inv.args, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

function handleWatch(inv: Invocation): void {
  const parsed = parseOptions(inv.args, {
    flags: 'bcCegptwxhv',
    withValue: 'nq',
    optionalValue: 'd',
    long: {
      interval: 'n:',
      differences: 'd?',
      beep: 'b',
      color: 'c',
      'no-color': 'C',
      errexit: 'e',
      chgexit: 'g',
      precise: 'p',
      'no-title': 't',
      'no-wrap': 'w',
      'no-linewrap': 'w',
      exec: 'x',
      equexit: 'q:',
      help: 'h',
      version: 'v',
    },
  });
  reportUnknown(inv.name, parsed, inv.ctx.acc);
  if (parsed.options.has('h') || parsed.options.has('v') || parsed.operands.length === 0) return;
  if (parsed.options.has('x')) {
    runCommand(parsed.operands, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
    return;
  }
  const text = parsed.operands.map((a) => a.text).join(' '); // watch hands its joined operands to sh -c
  runScript({ text, literal: parsed.operands.every((a) => a.literal), glob: false }, 'watch', [...inv.via, 'watch'], inv.env, inv.ctx);
}

function handleEval(inv: Invocation): void {
  inv.ctx.acc.dynamic.add('eval');
  if (inv.args.length === 0) return;
  const text = inv.args.map((a) => a.text).join(' ');
  runScript({ text, literal: inv.args.every((a) => a.literal), glob: false }, 'eval', [...inv.via, 'eval'], inv.env, inv.ctx);
}

function handleSource(inv: Invocation): void {
  inv.ctx.acc.dynamic.add(`source/. of a file (${inv.args[0]?.text ?? ''})`);
}

function handleTrap(inv: Invocation): void {
  const parsed = parseOptions(inv.args, { flags: 'lpP' });
  const [action, ...signals] = parsed.operands;
  if (action === undefined || signals.length === 0 || action.text === '-' || action.text === '') return;
  runScript(action, 'trap', [...inv.via, 'trap'], inv.env, inv.ctx);
}

function handleAlias(inv: Invocation): void {
  for (const arg of inv.args) if (arg.text.includes('=')) inv.ctx.acc.dynamic.add(`alias definition (${arg.text})`);
}

function handleHash(inv: Invocation): void {
  if (inv.args.some((a) => /^-[a-z]*p/.test(a.text))) inv.ctx.acc.dynamic.add('hash -p changes which file a command name runs');
}

function handleEnable(inv: Invocation): void {
  if (inv.args.some((a) => /^-[a-z]*f/.test(a.text))) inv.ctx.acc.dynamic.add('enable -f loads a builtin from a shared object');
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ksh93', 'mksh', 'pdksh', 'ash', 'yash', 'posh', 'rbash', 'fish', 'csh', 'tcsh']);

function handleShell(inv: Invocation): void {
  const { acc } = inv.ctx;
  acc.nestedShell = true;
  const args = inv.args;
  let command = false;
  let stdin = false;
  let i = 0;
  while (i < args.length) {
    const arg = args[i]!;
    const text = arg.text;
    if (!arg.literal) break;
    if (text === '--' || text === '-') {
      i++;
      break;
    }
    if (text.startsWith('--')) {
      i += text === '--rcfile' || text === '--init-file' ? 2 : 1;
      continue;
    }
    if ((text.startsWith('-') || text.startsWith('+')) && text.length > 1) {
      i++;
      for (const c of text.slice(1)) {
        if (c === 'c' && text.startsWith('-')) command = true;
        else if (c === 's') stdin = true;
        else if (c === 'o' || c === 'O') i++; // -o option-name
      }
      continue;
    }
    break;
  }
  const operands = args.slice(i);
  if (command) {
    const script = operands[0];
    if (script !== undefined) runScript(script, `${inv.name} -c`, [...inv.via, `${inv.name} -c`], inv.env, inv.ctx);
    return;
  }
  if (!stdin && operands.length > 0) {
    acc.dynamic.add(`${inv.name} runs a script file (${operands[0]!.text})`);
    return;
  }
  const { ops } = acc.rt;
  const redirects = inv.stmt === undefined ? [] : list(inv.stmt, 'Redirs');
  const onStdin = (r: GoNode) => {
    const fd = child(r, 'N');
    return fd === undefined || goString(fd, 'Value') === '0';
  };
  const here = redirects.filter((r) => onStdin(r) && [ops.hdoc, ops.dashHdoc, ops.wordHdoc].includes(goNumber(r, 'Op'))).pop();
  if (here !== undefined) {
    acc.dynamic.add(`${inv.name} reads its script from a heredoc`);
    runScript(heredocText(here, inv.ctx), `${inv.name} heredoc`, [...inv.via, `${inv.name} stdin`], inv.env, inv.ctx);
    return;
  }
  const file = redirects.filter((r) => onStdin(r) && goNumber(r, 'Op') === ops.rdrIn).pop();
  if (file !== undefined) acc.dynamic.add(`${inv.name} reads its script from a file (${wordArg(child(file, 'Word'), inv.ctx.src).text})`);
  else acc.dynamic.add(`${inv.name} reads commands from stdin`);
}

function heredocText(redirect: GoNode, ctx: Ctx): Arg {
  const { ops } = ctx.acc.rt;
  const op = goNumber(redirect, 'Op');
  if (op === ops.wordHdoc) {
    const word = wordArg(child(redirect, 'Word'), ctx.src);
    return { ...word, text: `${word.text}\n` };
  }
  const body = child(redirect, 'Hdoc');
  const delimiter = list(child(redirect, 'Word') ?? redirect, 'Parts');
  const quoted = delimiter.some((p) => typeName(p) !== 'Lit' || /[\\'"]/.test(goString(p, 'Value')));
  let arg: Arg;
  if (body === undefined) arg = { text: '', literal: true, glob: false };
  else if (quoted) arg = { text: list(body, 'Parts').map((p) => goString(p, 'Value')).join(''), literal: true, glob: false };
  else arg = argOf(tokenize(list(body, 'Parts'), 'heredoc', ctx.src, []));
  if (op === ops.dashHdoc) arg.text = arg.text.replace(/^\t+/gm, '');
  return { ...arg, glob: false };
}

const INTERPRETERS = new Map<string, RegExp>([
  ['perl', /^-[a-zA-Z]*[eE]$/],
  ['ruby', /^-[a-zA-Z]*e$/],
  ['node', /^(-e|-p|--eval|--print)(=.*)?$/],
  ['nodejs', /^(-e|-p|--eval|--print)(=.*)?$/],
  ['deno', /^eval$/],
  ['php', /^-r$/],
  ['lua', /^-e$/],
  ['osascript', /^-e$/],
]);

function handleInterpreter(inv: Invocation): void {
  const pattern = INTERPRETERS.get(inv.name) ?? /^-[a-zA-Z]*c$/; // python -c, -Ic …
  const flag = inv.args.find((a) => a.literal && pattern.test(a.text));
  if (flag !== undefined) inv.ctx.acc.dynamic.add(`${inv.name} runs inline code (${flag.text})`);
}

const PRIVILEGE = new Set(['sudo', 'sudoedit', 'doas', 'su', 'runuser', 'pkexec']);

const HANDLERS = new Map<string, (inv: Invocation) => void>([
  ['sudo', handleSudo],
  ['sudoedit', handleSudo],
  ['doas', handleSudo],
  ['pkexec', handlePkexec],
  ['su', handleSu],
  ['runuser', handleSu],
  ['env', handleEnv],
  ['nice', wrapper({ withValue: 'n', numeric: true, long: { adjustment: 'n:', help: 'help', version: 'version' } }, { stopIf: ['help', 'version'] })],
  ['nohup', wrapper({ long: { help: 'help', version: 'version' } }, { stopIf: ['help', 'version'] })],
  [
    'timeout',
    wrapper(
      {
        flags: 'v',
        withValue: 'ks',
        long: { 'kill-after': 'k:', signal: 's:', 'preserve-status': 'preserve-status', foreground: 'foreground', verbose: 'v', help: 'help', version: 'version' },
      },
      { skip: 1, stopIf: ['help', 'version'] },
    ),
  ],
  ['setsid', wrapper({ flags: 'cfw', long: { ctty: 'c', fork: 'f', wait: 'w', help: 'help', version: 'version' } }, { stopIf: ['help', 'version'] })],
  ['stdbuf', wrapper({ withValue: 'ioe', long: { input: 'i:', output: 'o:', error: 'e:', help: 'help', version: 'version' } }, { stopIf: ['help', 'version'] })],
  [
    'ionice',
    wrapper(
      { flags: 't', withValue: 'cnpPu', long: { class: 'c:', classdata: 'n:', pid: 'p:', pgid: 'P:', uid: 'u:', ignore: 't', help: 'help', version: 'version' } },
      { stopIf: ['p', 'P', 'u', 'help', 'version'] },
    ),
  ],
  ['chroot', handleChroot],
  [
    'time',
    wrapper(
      { flags: 'apvqV', withValue: 'of', long: { output: 'o:', format: 'f:', append: 'a', portability: 'p', verbose: 'v', quiet: 'q', help: 'help', version: 'V' } },
      { stopIf: ['help', 'V'] },
    ),
  ],
  ['exec', wrapper({ flags: 'cl', withValue: 'a' })],
  ['command', wrapper({ flags: 'pvV' }, { stopIf: ['v', 'V'] })],
  ['builtin', wrapper({})],
  ['xargs', handleXargs],
  ['find', handleFind],
  ['busybox', handleBusybox],
  ['toybox', handleBusybox],
  ['watch', handleWatch],
  ['eval', handleEval],
  ['source', handleSource],
  ['.', handleSource],
  ['trap', handleTrap],
  ['alias', handleAlias],
  ['hash', handleHash],
  ['enable', handleEnable],
]);

function handleChroot(inv: Invocation): void {
  const parsed = parseOptions(inv.args, { long: { userspec: 'userspec:', groups: 'groups:', 'skip-chdir': 'skip-chdir', help: 'help', version: 'version' } });
  reportUnknown(inv.name, parsed, inv.ctx.acc);
  if (parsed.options.has('help') || parsed.options.has('version') || parsed.operands.length === 0) return;
  const command = parsed.operands.slice(1);
  if (command.length === 0) {
    inv.ctx.acc.nestedShell = true;
    inv.ctx.acc.dynamic.add('chroot without a command starts a shell');
    return;
  }
  runCommand(command, inv.env, [...inv.via, inv.name], inv.stmt, inv.ctx);
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Facts about a command line, as bash would parse it. Synchronous; the parser loads with this module, and its
 * layout is self-checked on the first call. Returns ok:false with the parser's message when the command line does not
 * parse (the caller denies), and also when it holds a NUL byte, exceeds MAX_COMMAND_BYTES or cannot be analysed.
 */
export function shellFacts(commandLine: string): ShellFactsResult {
  if (typeof commandLine !== 'string') return { ok: false, error: 'command line is not a string' };
  if (commandLine.includes('\0')) return { ok: false, error: 'command line contains a NUL byte' };
  if (Buffer.byteLength(commandLine, 'utf8') > MAX_COMMAND_BYTES) return { ok: false, error: `command line is longer than ${MAX_COMMAND_BYTES} bytes` };
  const rt = getRuntime();
  if (!rt.ok) return rt;
  let file: GoNode;
  try {
    file = parseTree(rt.value.parser, commandLine);
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  }
  const acc: Acc = {
    commands: [],
    programs: new Set(),
    pipelines: 0,
    usesSubstitution: false,
    redirections: [],
    sudo: false,
    nestedShell: false,
    envPrefixes: new Set(),
    dynamic: new Set(),
    pipeContinuations: new Set(),
    rt: rt.value,
  };
  try {
    walkFile(file, { src: new Source(commandLine), depth: 0, via: [], env: {}, acc });
  } catch (error) {
    return { ok: false, error: `shell analysis failed: ${errorMessage(error)}` };
  }
  return {
    ok: true,
    facts: {
      commands: acc.commands,
      programs: [...acc.programs].sort(),
      pipelines: acc.pipelines,
      usesSubstitution: acc.usesSubstitution,
      usesRedirectionToFile: acc.redirections,
      sudo: acc.sudo,
      nestedShell: acc.nestedShell,
      envPrefixes: [...acc.envPrefixes],
      dynamic: [...acc.dynamic],
    },
  };
}
