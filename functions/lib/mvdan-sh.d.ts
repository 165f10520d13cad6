// Types for mvdan-sh 0.10.1: mvdan.cc/sh/v3/syntax compiled to JavaScript with GopherJS (CommonJS, no types shipped).
// Only the surface that functions/lib/shell-facts.ts uses is declared.
declare module 'mvdan-sh' {
  /** A GopherJS wrapper around a Go value; `__internal_object__` is the Go struct itself. */
  export interface GoWrapper {
    readonly __internal_object__: unknown;
  }
  /** What Parse throws: a wrapped *syntax.ParseError (or *syntax.LangError). */
  export interface GoParseError extends GoWrapper {
    Error(): string;
  }
  export interface Parser {
    /** Parses a whole script; throws a GoParseError when it is not valid. Synchronous. */
    Parse(src: string, name: string): GoWrapper;
  }
  export type ParserOption = (parser: unknown) => void;
  export interface Syntax {
    NewParser(...options: ParserOption[]): Parser;
    KeepComments(enabled: boolean): ParserOption;
    Variant(lang: number): ParserOption;
    readonly LangBash: number;
    readonly LangPOSIX: number;
    readonly LangMirBSDKorn: number;
  }
  const sh: { readonly syntax: Syntax };
  export default sh;
}
