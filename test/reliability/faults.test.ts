/**
 * Faults while 50 sessions are under load: kill -9 of the proxy, kill -9 of the control plane,
 * the store unavailable (refusing), the store silent (its open connections dead), the store
 * slow. Each fault hits a gateway whose pieces run apart (lib/faults-gateway.ts) while 50
 * node-postgres sessions run uniquely named statements, and a new session tries to log in
 * while it lasts. After each, once the gateway serves again and the log is integrated:
 *   - every statement whose result reached a client has an allowing `command` entry, and a
 *     `command.result` entry unless the proxy logged why it could not record one (or was
 *     itself killed holding it);
 *   - every statement PostgreSQL logged (log_statement=all) from the gateway's role has an
 *     allowing entry, and no statement a client was told was not run reached PostgreSQL;
 *   - `warden verify` passes over the whole live log;
 *   - every error a client got named the cause, and every client got results again afterwards
 *     (on its session, or on a new one).
 * And the store client gives up on a silent store instead of waiting on a dead connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { LedgerEntry } from '../../core/ledger/entry.js';
import { createDynamoClient, startDynalite, STORE_SOCKET_TIMEOUT_MS } from '../../functions/lib/dynamodb.js';
import { parseEvent } from './lib/faults-child-process.js';
import { loggedStatements, settledLedger } from './lib/faults-evidence.js';
import { CONNECTION, startFaultGateway, type FaultGateway } from './lib/faults-gateway.js';
import { startFaultRelay } from './lib/faults-tcp-relay.js';
import { startLoad, tryNewSession, type ClientError, type LoadReport, type Phase, type SessionTarget, type StatementOutcome } from './lib/faults-load.js';

const SESSIONS = 50;
const LOAD_MS = 2_000;
const FAULT_MS = 2_000;
const STORE_DELAY_MS = 300;
/** Well past the proxy's 10 s deadline for an answer, so that statements in flight when the store fell silent are refused before it answers again. */
const SILENT_STORE_MS = 14_000;
/** Bounds the waits for the gateway to serve again and for every client to get results; never reached when things work. */
const RECOVERY_LIMIT_MS = 60_000;
/** Every statement the load and the probes send carries a marker like these. */
const MARKER = /\bf_[a-z]+_(?:c\d+_s\d+|probe\d+)\b/;

/** How a client learns of each fault: the cause, named. */
const CLEAR_ERRORS = {
  // The proxy is gone: nothing of the gateway is left to speak, so the client library names the lost connection.
  proxyKilled: (error: ClientError) => ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(error.code ?? '') || /^Connection terminated( unexpectedly)?$/.test(error.message),
  controlPlaneDown: (error: ClientError) =>
    error.code === '57P03' && /^Warden (could not record this command, so it was not run|refused the connection): the Warden control plane is unreachable \(/.test(error.message),
  storeDown: (error: ClientError) => error.code === '57P03' && /^Warden (could not record this command, so it was not run|refused the connection): the ledger store is unreachable \(/.test(error.message),
};

interface FaultRun {
  readonly load: LoadReport;
  /** What a new session got while the fault lasted; undefined: it was served. */
  readonly loginDuringFault: ClientError | undefined;
}

describe('faults while 50 sessions are under load', { timeout: 600_000 }, () => {
  let gateway: FaultGateway;
  let target: SessionTarget;
  let tokens: string[];
  let probeToken: string;
  let probes = 0;

  before(async () => {
    gateway = await startFaultGateway();
    target = { port: gateway.proxyPort, database: CONNECTION };
    tokens = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => gateway.token(`load${i}`)));
    probeToken = await gateway.token('probe');
  });

  after(async () => {
    await gateway?.stop();
  });

  const probe = (label: string, phase: Phase) => tryNewSession(target, probeToken, `${label}_probe${(probes += 1)}`, phase);

  /** A new session runs a statement: tried until the gateway serves again. */
  const untilServing = async (label: string) => {
    const deadline = Date.now() + RECOVERY_LIMIT_MS;
    for (let error = await probe(label, 'after'); error; error = await probe(label, 'after')) {
      assert.ok(Date.now() < deadline, `the gateway did not serve a new session within ${RECOVERY_LIMIT_MS} ms: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  /**
   * Load until every client has had a result, the fault for `faultMs` (a new session tries to
   * log in meanwhile), recovery, then load until every client has had a result again.
   * `fault` breaks something and returns how to mend it.
   */
  const underFault = async (label: string, fault: () => Promise<() => Promise<void>>, faultMs = FAULT_MS): Promise<FaultRun> => {
    const load = startLoad(target, tokens, label);
    const everyClientServed = async (phase: Phase) => {
      const deadline = Date.now() + RECOVERY_LIMIT_MS;
      while (load.clientsWithResults(phase).size < SESSIONS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    };
    let loginDuringFault: ClientError | undefined;
    let report: LoadReport;
    try {
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
      await everyClientServed('before');
      load.setPhase('fault');
      const mend = await fault();
      const faultEnds = new Promise((resolve) => setTimeout(resolve, faultMs));
      loginDuringFault = await probe(label, 'fault');
      await faultEnds;
      await mend();
      load.setPhase('after');
      await untilServing(label);
      await everyClientServed('after');
    } finally {
      report = await load.stop();
    }
    return { load: report, loginDuringFault };
  };

  /** The invariants every fault must leave standing; returns the errors clients got while it lasted. */
  const assertInvariants = async (t: TestContext, label: string, run: FaultRun, clear: (error: ClientError) => boolean, resultEntryMayBeLost: (statement: StatementOutcome) => boolean = () => false) => {
    const { statements, connectFailures } = run.load;
    // The gateway settles before the log is read: the proxy exits once every result and session end
    // has reached the control plane, then the control plane integrates what is durable and exits.
    // (`warden verify` holds the entries to the integration state, so it must not run while an
    // integrator is between writing a step's entries and committing it.) Both start again after.
    await gateway.proxy().stop(30_000);
    await gateway.controlPlane().stop();
    const { entries, report: verified } = await settledLedger(gateway.ledgerAccess);
    await gateway.startControlPlane();
    await gateway.startProxy();
    assert.equal(verified.ok, true, `warden verify: ${JSON.stringify(verified.problems.slice(0, 5))}`);
    assert.equal(verified.pendingBatches, 0, 'every durable batch is integrated');

    const allowed = countMarkers(entries.filter((entry) => entry.type === 'command' && entry.data.decision === 'allow').map((entry) => String(entry.data.text)));
    // Only the gateway logs in as the target's role (the test's own SQL runs as the superuser). The
    // gateway's logins run no SQL, and its catalog lookups for masking run only for column rules,
    // which this configuration has none of: so every statement of that role must be a marked one.
    const ranTexts = (await loggedStatements(gateway.db)).filter((statement) => statement.user === gateway.db.user).map((statement) => statement.text);
    assert.deepEqual(ranTexts.filter((text) => !MARKER.test(text)).slice(0, 5), [], 'the gateway ran nothing but the clients\' statements');
    const ran = countMarkers(ranTexts);

    const answered = statements.filter((statement) => statement.result);
    assert.deepEqual(answered.filter((statement) => !allowed.has(statement.marker)).map((s) => s.marker), [], 'every statement whose result reached a client has an allowing command entry');
    assert.deepEqual(answered.filter((statement) => !ran.has(statement.marker)).map((s) => s.marker), [], 'PostgreSQL logged every statement that answered (the log is read right)');
    assert.deepEqual([...ran].filter(([marker, count]) => (allowed.get(marker) ?? 0) < count), [], 'no statement ran on the server more often than the ledger allowed it');
    const toldNotRun = statements.filter((statement) => statement.error && /so it was not run/.test(statement.error.message));
    assert.deepEqual(toldNotRun.filter((statement) => ran.has(statement.marker)).map((s) => s.marker), [], 'no statement a client was told was not run reached PostgreSQL');

    // A result is reported after the client has it, retried a few times, and if it still cannot be recorded the proxy logs that.
    const results = new Set(entries.filter((entry) => entry.type === 'command.result').map((entry) => `${entry.session}/${String(entry.data.commandId)}`));
    const commandOf = commandsByMarker(entries);
    const withoutResultEntry = answered.filter((statement) => !results.has(commandOf.get(statement.marker) ?? ''));
    const notRecordedEvents = gateway
      .proxyLog()
      .map(parseEvent)
      .filter((event) => event?.event === 'result-not-recorded');
    const loggedNotRecorded = new Set(notRecordedEvents.map((event) => `${String(event!.session)}/${String(event!.command)}`));
    const silentlyLost = withoutResultEntry.filter((statement) => !loggedNotRecorded.has(commandOf.get(statement.marker) ?? '') && !resultEntryMayBeLost(statement));
    assert.deepEqual(silentlyLost.map((s) => s.marker), [], 'every answered statement has a command.result entry, or the proxy logged why not');

    const errors = [...statements.flatMap((statement) => (statement.error ? [statement.error] : [])), ...connectFailures, ...(run.loginDuringFault ? [run.loginDuringFault] : [])];
    assert.deepEqual(errors.filter((error) => !clear(error)).slice(0, 5), [], 'every error a client got names the cause');
    const after = statements.filter((statement) => statement.phase === 'after' && statement.result);
    assert.equal(new Set(after.map((statement) => statement.client)).size, SESSIONS, 'every client got results again after recovery');

    const duringFault = errors.filter((error) => error.phase === 'fault');
    t.diagnostic(
      JSON.stringify({
        label,
        statements: statements.length,
        answered: answered.length,
        answeredSentDuringFault: answered.filter((statement) => statement.phase === 'fault').length,
        errors: errors.length,
        errorsDuringFault: duringFault.length,
        connectFailures: connectFailures.length,
        loginDuringFault: run.loginDuringFault ? `${run.loginDuringFault.code}: ${run.loginDuringFault.message}` : 'served',
        errorMessages: distinct(errors),
        answeredWithoutResultEntry: withoutResultEntry.length,
        ofWhichProxyLoggedNotRecorded: withoutResultEntry.filter((statement) => loggedNotRecorded.has(commandOf.get(statement.marker) ?? '')).length,
        whyNotRecorded: [...new Set(notRecordedEvents.map((event) => String(event!.error).replace(/\d+/g, 'N')))],
        statementsLoggedByServer: [...ran.values()].reduce((sum, count) => sum + count, 0),
        sessionsNeverEnded: sessionsWithoutEnd(entries),
        ledgerEntries: entries.length,
      }),
    );
    return duringFault;
  };

  it('kill -9 of the proxy: clients lose their connections, connect again to the restarted proxy, and nothing ran without an entry', async (t) => {
    const run = await underFault('f_proxykill', async () => {
      await gateway.proxy().kill9();
      return () => gateway.startProxy();
    });
    assert.equal(run.loginDuringFault?.code, 'ECONNREFUSED', 'a new session found the port closed');
    // Results still queued in the killed process for the ledger die with it, unlogged; the statements' command entries stand.
    const duringFault = await assertInvariants(t, 'f_proxykill', run, CLEAR_ERRORS.proxyKilled, (statement) => statement.phase !== 'after');
    assert.ok(duringFault.length > 0, 'clients noticed the proxy was gone');
  });

  it('kill -9 of the control plane: statements and logins are refused naming the control plane, nothing is forwarded, and the sessions go on after its restart', async (t) => {
    const run = await underFault('f_cpkill', async () => {
      await gateway.controlPlane().kill9();
      return () => gateway.startControlPlane();
    });
    assert.match(run.loginDuringFault?.message ?? 'served', /^Warden refused the connection: the Warden control plane is unreachable/);
    const duringFault = await assertInvariants(t, 'f_cpkill', run, CLEAR_ERRORS.controlPlaneDown);
    assert.ok(duringFault.some((error) => error.client >= 0), 'open sessions were told the control plane was unreachable');
  });

  it('the store unavailable: statements and logins are refused naming the ledger store, nothing is forwarded, and the sessions go on once it is back', async (t) => {
    const run = await underFault('f_storedown', async () => {
      await gateway.storeRelay.down();
      return () => gateway.storeRelay.up();
    });
    assert.match(run.loginDuringFault?.message ?? 'served', /^Warden refused the connection: the ledger store is unreachable/);
    const duringFault = await assertInvariants(t, 'f_storedown', run, CLEAR_ERRORS.storeDown);
    assert.ok(duringFault.some((error) => error.client >= 0), 'open sessions were told the store was unreachable');
  });

  it('the store silent (connections open, nothing answered): statements and logins are refused once the deadline passes, nothing is forwarded, and the sessions go on once it answers', async (t) => {
    const run = await underFault(
      'f_storesilent',
      async () => {
        gateway.storeRelay.silence();
        return () => gateway.storeRelay.up();
      },
      SILENT_STORE_MS,
    );
    // Whichever deadline passes first names its cause: the store client's (the control plane answers
    // that the store is unreachable) or the proxy's (the control plane did not answer in time).
    const clear = (error: ClientError) => CLEAR_ERRORS.storeDown(error) || CLEAR_ERRORS.controlPlaneDown(error);
    assert.ok(run.loginDuringFault && clear(run.loginDuringFault), `a new session was refused with the cause: ${JSON.stringify(run.loginDuringFault)}`);
    const duringFault = await assertInvariants(t, 'f_storesilent', run, clear);
    assert.ok(duringFault.some((error) => error.client >= 0), 'open sessions were told');
  });

  it(`the store slow (${STORE_DELAY_MS} ms a chunk each way): sessions start and statements run, each recorded before it runs`, async (t) => {
    const run = await underFault('f_storeslow', async () => {
      gateway.storeRelay.slow(STORE_DELAY_MS);
      return () => gateway.storeRelay.up();
    });
    assert.equal(run.loginDuringFault, undefined, 'a new session was served while the store was slow');
    // Slow enough, the store would make the control plane miss the proxy's deadline: that refusal names the control plane.
    await assertInvariants(t, 'f_storeslow', run, (error) => CLEAR_ERRORS.storeDown(error) || CLEAR_ERRORS.controlPlaneDown(error));
    assert.ok(
      run.load.statements.some((statement) => statement.phase === 'fault' && statement.result),
      'statements sent while the store was slow got their results',
    );
  });
});

describe('the store client on a silent store', () => {
  // Without its own socket timeout the SDK's default (300 s) would end the wait, naming itself the service default.
  it('fails the request (the control plane then answers that the store is unreachable) instead of waiting on a dead connection', { timeout: 60_000 }, async () => {
    const store = await startDynalite({});
    const relay = await startFaultRelay({ host: '127.0.0.1', port: Number(new URL(store.endpoint).port) });
    try {
      const client = createDynamoClient({ endpoint: relay.url, region: 'us-east-1' });
      await client.send(new ListTablesCommand({}));
      relay.silence();
      await assert.rejects(client.send(new ListTablesCommand({})), { name: 'TimeoutError', message: new RegExp(`timed out after ${STORE_SOCKET_TIMEOUT_MS} ms of inactivity \\(configured by client requestHandler\\)`) });
    } finally {
      await relay.close();
      await store.close();
    }
  });
});

/** How many times each marker occurs. */
function countMarkers(texts: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    const marker = MARKER.exec(text)?.[0];
    if (marker) counts.set(marker, (counts.get(marker) ?? 0) + 1);
  }
  return counts;
}

/** session/commandId of each marked command entry, to find its command.result. */
function commandsByMarker(entries: readonly LedgerEntry[]): Map<string, string> {
  const byMarker = new Map<string, string>();
  for (const entry of entries) {
    const marker = entry.type === 'command' ? MARKER.exec(String(entry.data.text))?.[0] : undefined;
    if (marker) byMarker.set(marker, `${entry.session}/${String(entry.data.commandId)}`);
  }
  return byMarker;
}

/** Sessions the ledger saw start and never saw end, over the whole run so far. */
function sessionsWithoutEnd(entries: readonly LedgerEntry[]): number {
  const ended = new Set(entries.filter((entry) => entry.type === 'session.end').map((entry) => entry.session));
  return entries.filter((entry) => entry.type === 'session.start' && !ended.has(entry.session)).length;
}

/** The distinct errors, numbers (ports, addresses) blanked. */
function distinct(errors: readonly ClientError[]): string[] {
  return [...new Set(errors.map((error) => `${error.code ?? '-'}: ${error.message.replace(/\d+/g, 'N')}`))];
}
