export type LedgerErrorCode =
  /** Not a well-formed signed note (c2sp.org/signed-note "Format"), or text that cannot be signed as one. */
  | 'MALFORMED_NOTE'
  /** No signature from a known key verified (c2sp.org/signed-note: clients MUST reject the note). */
  | 'UNVERIFIED_NOTE'
  /** A signature whose key name and ID match a known key failed to verify. */
  | 'BAD_SIGNATURE'
  /** Two verifiers share a key name and key ID, so a signature could not be attributed to one key. */
  | 'AMBIGUOUS_VERIFIER'
  /** A verifier key, signer key or key name that is not valid. */
  | 'MALFORMED_KEY'
  /** Note text that is not a c2sp.org/tlog-checkpoint body, or checkpoint fields that cannot form one. */
  | 'MALFORMED_CHECKPOINT'
  /** A tree head that is not an append-only extension of one already signed: never signed, never accepted. */
  | 'INCONSISTENT_TREE';

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  readonly code: LedgerErrorCode;

  constructor(code: LedgerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
