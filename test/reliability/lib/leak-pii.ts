/**
 * Distinctive fake PII, each value one that Warden's content detectors find (the test checks
 * that first), and the table that holds it upstream.
 */
export const PII = {
  email: 'zelda.quistgaard@example.org',
  otherEmail: 'orrin.vantablack@example.net',
  visa: '4539 1488 0343 6467',
  mastercard: '5273840192657318',
  amex: '3714 826051 93573',
  ssn: '219-09-9993',
  otherSsn: '512-48-7306',
  phone: '+44 20 7946 0958',
  usPhone: '(415) 283-7461',
  iban: 'GB33BUKB20201555555555',
} as const;

/** Other ways the same value is commonly written (a card or a phone number without its punctuation). */
export function spellingsOf(value: string): string[] {
  const digits = value.replace(/\D/g, '');
  return digits.length >= 9 && digits !== value ? [digits] : [];
}

export const SEED_SQL = `
  CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE, card text, ssn text, phone text, note text);
  INSERT INTO customers VALUES
    (1, '${PII.email}', '${PII.visa}', '${PII.ssn}', '${PII.phone}', 'iban ${PII.iban}'),
    (2, '${PII.otherEmail}', '${PII.mastercard}', '${PII.otherSsn}', '${PII.usPhone}', 'amex ${PII.amex}');
`;

/** The same records as a text file on the SSH host, for `cat` to print. */
export const PII_FILE_TEXT = `${PII.email} ${PII.visa} ${PII.ssn} ${PII.phone}\n${PII.otherEmail} ${PII.mastercard} ${PII.otherSsn} ${PII.usPhone} ${PII.iban} ${PII.amex}\n`;
