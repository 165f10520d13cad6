import assert from 'node:assert/strict';
import { assertThrowsCode } from '../../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import { describe, it } from 'node:test';
import { ScramClient, ScramError, type ScramErrorCode } from '../../../proxy-fleet/postgres/protocol/index.js';

// RFC 7677 §3, the SCRAM-SHA-256 example exchange.
const rfc = {
  username: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcClient(): ScramClient {
  return new ScramClient(rfc.password, { clientNonce: rfc.clientNonce, username: rfc.username });
}

/** A client that has sent its first message and is waiting for the server's. */
function waitingClient(): ScramClient {
  const client = rfcClient();
  client.clientFirstMessage();
  return client;
}

function assertScramError(action: () => unknown, code: ScramErrorCode): void {
  assertThrowsCode(action, ScramError, code);
}

describe('ScramClient', () => {
  it('reproduces the RFC 7677 example exchange', () => {
    const client = rfcClient();
    assert.equal(client.mechanism, 'SCRAM-SHA-256');
    assert.equal(client.clientFirstMessage(), rfc.clientFirst);
    assert.equal(client.handleServerFirst(rfc.serverFirst), rfc.clientFinal);
    client.verifyServerFinal(rfc.serverFinal);
  });

  it('sends an empty user name and a fresh 24-character nonce by default', () => {
    const first = new ScramClient('pw').clientFirstMessage();
    assert.match(first, /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
    assert.notEqual(first, new ScramClient('pw').clientFirstMessage());
  });

  it('escapes "=" and "," in a user name', () => {
    const client = new ScramClient('pw', { clientNonce: 'abc', username: 'a=b,c' });
    assert.equal(client.clientFirstMessage(), 'n,,n=a=3Db=2Cc,r=abc');
  });

  it('rejects a tampered server signature', () => {
    const client = waitingClient();
    client.handleServerFirst(rfc.serverFirst);
    const signature = Buffer.from(rfc.serverFinal.slice(2), 'base64');
    signature[0] = (signature[0] as number) ^ 1;
    assertScramError(() => client.verifyServerFinal(`v=${signature.toString('base64')}`), 'SERVER_SIGNATURE_MISMATCH');
  });

  it('rejects a signature of the wrong length or shape', () => {
    for (const serverFinal of ['v=AAAA', 'v=', 'x=abc', `${rfc.serverFinal},ext=1`, 'v=not base64!']) {
      const client = waitingClient();
      client.handleServerFirst(rfc.serverFirst);
      assert.throws(() => client.verifyServerFinal(serverFinal), ScramError);
    }
  });

  it('rejects a server error (e=)', () => {
    const client = waitingClient();
    client.handleServerFirst(rfc.serverFirst);
    assertScramError(() => client.verifyServerFinal('e=invalid-proof'), 'SERVER_ERROR');
  });

  it('rejects a server nonce that does not extend the client nonce', () => {
    const foreign = rfc.serverFirst.replace('r=rOprNGfwEbeRWgbNEkqO', 'r=xOprNGfwEbeRWgbNEkqO');
    assertScramError(() => waitingClient().handleServerFirst(foreign), 'NONCE_MISMATCH');
    const bare = 'r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    assertScramError(() => waitingClient().handleServerFirst(bare), 'NONCE_MISMATCH');
  });

  it('rejects a malformed server-first-message', () => {
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const malformed = [
      `m=ext,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
      `r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==`,
      `s=W22ZaJ0SNY7soEsUEjb6gQ==,r=${nonce},i=4096`,
      `r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=extension`,
      `r=${nonce},s=not*base64,i=4096`,
      `r=${nonce},s=,i=4096`,
      `r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0x1000`,
      `r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096`,
      `r=${nonce} tail,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
    ];
    for (const serverFirst of malformed) {
      assertScramError(() => waitingClient().handleServerFirst(serverFirst), 'MALFORMED_SERVER_MESSAGE');
    }
  });

  it('rejects iteration counts outside the accepted range', () => {
    const withIterations = (count: number) => rfc.serverFirst.replace('i=4096', `i=${count}`);
    assertScramError(() => waitingClient().handleServerFirst(withIterations(1)), 'ITERATION_COUNT_OUT_OF_RANGE');
    assertScramError(() => waitingClient().handleServerFirst(withIterations(4095)), 'ITERATION_COUNT_OUT_OF_RANGE');
    assertScramError(() => waitingClient().handleServerFirst(withIterations(10_000_001)), 'ITERATION_COUNT_OUT_OF_RANGE');
    const lenient = new ScramClient('pencil', { clientNonce: rfc.clientNonce, minIterations: 1 });
    lenient.clientFirstMessage();
    assert.match(lenient.handleServerFirst(withIterations(1)), /^c=biws,r=.+,p=[A-Za-z0-9+/]{43}=$/);
  });

  it('refuses steps taken out of order', () => {
    assertScramError(() => rfcClient().handleServerFirst(rfc.serverFirst), 'INVALID_STATE');
    assertScramError(() => waitingClient().verifyServerFinal(rfc.serverFinal), 'INVALID_STATE');
    const client = waitingClient();
    assertScramError(() => client.clientFirstMessage(), 'INVALID_STATE');
    client.handleServerFirst(rfc.serverFirst);
    client.verifyServerFinal(rfc.serverFinal);
    assertScramError(() => client.verifyServerFinal(rfc.serverFinal), 'INVALID_STATE');
    const rejected = waitingClient();
    assertScramError(() => rejected.handleServerFirst('r=x,s=AAAA,i=4096'), 'NONCE_MISMATCH');
    assertScramError(() => rejected.handleServerFirst(rfc.serverFirst), 'INVALID_STATE');
  });

  it('refuses a client nonce the exchange cannot carry', () => {
    assert.throws(() => new ScramClient('pw', { clientNonce: 'a,b' }), RangeError);
    assert.throws(() => new ScramClient('pw', { clientNonce: '' }), RangeError);
  });
});
