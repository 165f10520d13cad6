import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DenialInjector } from '../../../proxy-fleet/postgres/denial-injector.js';
import { BackendParser, FrontendParser, serialize } from '../../../proxy-fleet/postgres/protocol/index.js';

const ours = serialize.errorResponse({ severity: 'ERROR', code: '42501', message: 'Warden denied this command' });

function harness() {
  const written: string[] = [];
  const injector = new DenialInjector((chunk) => {
    const [message] = new BackendParser().push(chunk);
    written.push(message?.name === 'errorResponse' ? `E ${message.fields.C}` : message?.name === 'readyForQuery' ? `Z ${message.status}` : String(message?.name));
  });
  const serverSays = (...chunks: Buffer[]) => {
    for (const message of new BackendParser().push(Buffer.concat(chunks))) injector.fromServer(message);
  };
  return { injector, written, serverSays };
}

/** What the server would say to the injected SQL: a syntax error naming it. */
function syntaxErrorFor(injected: Buffer): Buffer {
  const startup = new FrontendParser();
  startup.push(serialize.startup({ user: 'u' }));
  const [message] = startup.push(injected);
  const text = message?.name === 'query' ? message.text : message?.name === 'parse' ? message.text : '';
  return serialize.errorResponse({ severity: 'ERROR', code: '42601', message: `syntax error at or near "${text}"` });
}

describe('DenialInjector', () => {
  it('replaces the server error raised by an injected Query, and keeps the server status', () => {
    const { injector, written, serverSays } = harness();
    const injected = injector.deniedQuery(ours);
    serverSays(syntaxErrorFor(injected), serialize.readyForQuery('E'));
    assert.deepEqual(written, ['E 42501', 'Z E']);
  });

  it('passes the server’s own errors through untouched', () => {
    const { injector, written, serverSays } = harness();
    injector.deniedQuery(ours);
    serverSays(serialize.errorResponse({ severity: 'ERROR', code: '25P02', message: 'current transaction is aborted' }), serialize.readyForQuery('E'));
    assert.deepEqual(written, ['E 25P02', 'Z E']);
  });

  it('keeps an Execute denial pending until the cycle of the client’s Sync ends', () => {
    const { injector, written, serverSays } = harness();
    injector.cycleEnded(); // an earlier Sync still in flight
    const injected = injector.deniedExecute(ours);
    injector.cycleEnded(); // the client's Sync
    serverSays(serialize.readyForQuery('I')); // the earlier cycle ends: the marker must survive it
    serverSays(syntaxErrorFor(injected), serialize.readyForQuery('I'));
    assert.deepEqual(written, ['Z I', 'E 42501', 'Z I']);
  });

  it('forgets a marker once its cycle has ended', () => {
    const { injector, written, serverSays } = harness();
    const injected = injector.deniedQuery(ours);
    serverSays(serialize.readyForQuery('I'));
    serverSays(syntaxErrorFor(injected));
    assert.deepEqual(written, ['Z I', 'E 42601']);
  });
});
