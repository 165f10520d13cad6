/**
 * The console's read API (core/console-api.ts) behind the local HTTP adapter, on an in-memory
 * dynalite: sessions and their filters, one session's commands, recordings held to the ledger's
 * SHA-256, the ledger's status and checks, and who may read.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { wardenConfigSchema } from '../../core/config.js';
import { consoleAccessSchema, ledgerStatusSchema, sessionDetailSchema, sessionListSchema, type LedgerStatus, type SessionDetail, type SessionList } from '../../core/console-api.js';
import { formatCheckpoint } from '../../core/ledger/checkpoint.js';
import type { EntryDraft, IdentityChain } from '../../core/ledger/entry.js';
import { generateNoteKey, parseSignerKey, signNote } from '../../core/ledger/signed-note.js';
import { startDynalite, type EmbeddedDynalite } from '../../functions/lib/dynamodb.js';
import { integrateAndSign } from '../../functions/lib/integrate-and-sign.js';
import { CHECKPOINT_ITEM, LedgerReader, type IntegratedEntry } from '../../functions/lib/ledger-reader.js';
import { loadPolicyFile } from '../../functions/lib/policy-files.js';
import { buildRuntime, configureRuntime, statePaths, type Runtime } from '../../functions/lib/runtime.js';
import { ensureTables } from '../../functions/lib/table-setup.js';
import { startLocalApi, type LocalApi } from '../../functions/local/http-adapter.js';

const PROXY_KEY = 'test-proxy-key-0123456789';
const T0 = Date.parse('2026-01-01T10:00:00Z');
const HOUR = 3_600_000;

const alice: IdentityChain = { sub: 'alice', groups: ['eng'], chain: 'chn-alice', act: [] };
const bobsAgent: IdentityChain = { sub: 'bob', groups: ['eng'], chain: 'chn-bob', act: [{ sub: 'agent:planner' }] };
const carol: IdentityChain = { sub: 'carol', groups: ['eng'], chain: 'chn-carol', act: [] };

const CAST = '{"version":2,"width":80,"height":24}\n[0.1,"o","$ ls\\r\\n"]\n';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the console read API', () => {
  let dir: string;
  let store: EmbeddedDynalite;
  let api: LocalApi;
  let runtime: Runtime;
  let reader: LedgerReader;
  const tokens = new Map<string, string>();

  const exchange = async (sub: string, groups: string[]) => {
    const subject = await runtime.devIssuer!.mint({ sub, groups });
    const response = await fetch(`${api.url}/v1/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
    });
    const body = (await response.json()) as { access_token: string };
    return body.access_token;
  };
  /** GET as `who`: auditor (a reader), approver, or outsider (neither). */
  const get = async (path: string, who: 'auditor' | 'approver' | 'outsider' = 'auditor') => {
    const response = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${tokens.get(who)}` } });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    return { status: response.status, contentType, text, body: contentType.startsWith('application/json') ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const list = async (query = '') => {
    const { status, body } = await get(`/v1/sessions${query}`);
    assert.equal(status, 200, JSON.stringify(body));
    return sessionListSchema.parse(body) as SessionList;
  };
  const ids = (sessions: SessionList) => sessions.sessions.map((s) => s.id);

  const at = (ms: number) => new Date(ms).toISOString();
  const entry = (session: string, identity: IdentityChain, connection: string, type: EntryDraft['type'], time: number, data: Record<string, unknown>): EntryDraft => ({
    session,
    type,
    time: at(time),
    identity,
    connection,
    digest: sha256(`${session}${type}${time}`),
    data,
  });
  const statement = (commandId: number, kind: string, text: string, decision: string, extra: Record<string, unknown> = {}) => ({
    commandId,
    kind,
    policyVersion: 'pv-1',
    statement: 0,
    statements: 1,
    text,
    decision,
    policies: ['all'],
    ...extra,
  });
  const shellResult = (commandId: number, path: string, digest: string) => ({ commandId, rows: 0, exitStatus: 0, bytesOut: CAST.length, recording: { path, sha256: digest, bytes: CAST.length }, masked: {} });

  const storeCheckpoint = (size: number, note: string) =>
    runtime.client.send(new PutItemCommand({ TableName: reader.names.log, Item: { name: { S: CHECKPOINT_ITEM }, size: { N: String(size) }, note: { S: note } } }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-console-'));
    store = await startDynalite({});
    const config = wardenConfigSchema.parse({ connections: { app: { kind: 'postgres', host: '127.0.0.1', database: 'app', user: 'u' } } });
    runtime = await buildRuntime({ config, stateDir: dir, storeEndpoint: store.endpoint, proxyKey: PROXY_KEY, policy: await loadPolicyFile(undefined) });
    await ensureTables(runtime.client, config.store.tablePrefix);
    configureRuntime(runtime);
    api = await startLocalApi({ host: '127.0.0.1', port: 0 });
    reader = new LedgerReader(runtime.client, config.store.tablePrefix);
    tokens.set('auditor', await exchange('dana', ['auditors']));
    tokens.set('approver', await exchange('erin', ['approvers']));
    tokens.set('outsider', await exchange('mallory', ['eng']));

    const recordings = statePaths(dir).recordings;
    await mkdir(recordings, { recursive: true });
    await writeFile(join(recordings, 'shell-1.cast'), CAST);
    await writeFile(join(recordings, 'altered.cast'), CAST.replace('ls', 'rm'));
    // Outside the recordings directory, with the digest the ledger holds: a ../ path must still not reach it.
    await writeFile(join(dir, 'evidence', 'outside.cast'), CAST);

    await runtime.ledger.append([
      entry('s-alice', alice, 'app', 'session.start', T0, { protocol: 'postgres', client: { address: '127.0.0.1', user: 'alice', tls: true, justification: 'INC-42' } }),
      entry('s-alice', alice, 'app', 'command', T0 + 1000, statement(1, 'sql.query', 'SELECT email FROM users WHERE id = $1', 'allow', { statements: 2, tablesRead: ['public.users'] })),
      entry('s-alice', alice, 'app', 'command', T0 + 1000, statement(1, 'sql.query', 'SELECT 1', 'allow', { statement: 1, statements: 2 })),
      entry('s-alice', alice, 'app', 'command.result', T0 + 2000, { commandId: 1, rows: 3, masked: { email: 2, 'us-ssn': 1 } }),
      entry('s-alice', alice, 'app', 'command', T0 + 3000, statement(2, 'sql.query', 'DROP TABLE users', 'deny', { reason: 'no drops', policies: ['no-ddl'] })),
      entry('s-alice', alice, 'app', 'command', T0 + 4000, statement(3, 'sql.query', 'DELETE FROM users', 'approval', { reason: 'needs a second pair of eyes' })),
      entry('s-alice', alice, 'app', 'session.end', T0 + 5000, { reason: 'client closed the connection' }),
      entry('s-bob', bobsAgent, 'box', 'session.start', T0 + HOUR, { protocol: 'ssh', client: { address: '10.0.0.2', user: 'bob', tls: false } }),
      entry('s-bob', bobsAgent, 'box', 'command', T0 + HOUR + 1000, statement(1, 'ssh.shell', '[shell]', 'allow')),
      entry('s-bob', bobsAgent, 'box', 'command.result', T0 + HOUR + 2000, shellResult(1, '/var/lib/warden/recordings/shell-1.cast', sha256(CAST))),
      entry('s-bob', bobsAgent, 'box', 'command', T0 + HOUR + 3000, statement(2, 'ssh.shell', '[shell]', 'allow')),
      entry('s-bob', bobsAgent, 'box', 'command.result', T0 + HOUR + 4000, shellResult(2, '../outside.cast', sha256(CAST))),
      entry('s-bob', bobsAgent, 'box', 'command', T0 + HOUR + 5000, statement(3, 'ssh.shell', '[shell]', 'allow')),
      entry('s-bob', bobsAgent, 'box', 'command.result', T0 + HOUR + 6000, shellResult(3, 'altered.cast', sha256(CAST))),
      entry('s-bob', bobsAgent, 'box', 'command', T0 + HOUR + 7000, statement(4, 'ssh.shell', '[shell]', 'allow')),
      entry('s-bob', bobsAgent, 'box', 'command.result', T0 + HOUR + 8000, shellResult(4, 'gone.cast', sha256(CAST))),
      entry('s-bob', bobsAgent, 'box', 'command', T0 + HOUR + 9000, statement(5, 'ssh.exec', 'uptime', 'allow')),
      entry('s-bob', bobsAgent, 'box', 'command.result', T0 + HOUR + 9500, { commandId: 5, rows: 0, exitStatus: 0, masked: {} }),
      entry('s-carol', carol, 'app', 'session.start', T0 + 2 * HOUR, { protocol: 'postgres', client: { address: '127.0.0.1', user: 'carol', tls: true } }),
    ]);
    const signed = await integrateAndSign({ client: runtime.client, reader, signer: runtime.logSigner, origin: config.ledger.origin, sink: runtime.evidence.checkpoints });
    assert.ok(signed.checkpoint?.signed, 'a checkpoint was signed for the test entries');
  });

  after(async () => {
    await api.close();
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  describe('access', () => {
    for (const path of ['/v1/sessions', '/v1/sessions/s-alice', '/v1/sessions/s-bob/recordings/1', '/v1/ledger/status']) {
      it(`answers 403 on ${path} to a caller in no reader group`, async () => {
        const { status, body } = await get(path, 'outsider');
        assert.equal(status, 403, JSON.stringify(body));
        assert.equal(body.error, 'INVALID_SCOPE');
        assert.match(String(body.message), /mallory is not in a console reader group \(auditors\)/);
        const asApprover = await get(path, 'approver');
        assert.equal(asApprover.status, 403, 'approvers are not readers unless a reader group says so');
      });
    }

    it('answers 401 without a token', async () => {
      const response = await fetch(`${api.url}/v1/sessions`);
      assert.equal(response.status, 401);
    });

    it('says in whoami what a reader, an approver and neither may do', async () => {
      const whoami = async (who: 'auditor' | 'approver' | 'outsider') => {
        const { status, body } = await get('/v1/console/whoami', who);
        assert.equal(status, 200, JSON.stringify(body));
        return consoleAccessSchema.parse(body);
      };
      assert.deepEqual(await whoami('auditor'), { sub: 'dana', groups: ['auditors'], read: true, approve: false });
      assert.deepEqual(await whoami('approver'), { sub: 'erin', groups: ['approvers'], read: false, approve: true });
      assert.deepEqual(await whoami('outsider'), { sub: 'mallory', groups: ['eng'], read: false, approve: false });
    });
  });

  describe('GET /v1/sessions', () => {
    it('lists every session newest first with its figures', async () => {
      const all = await list();
      assert.deepEqual(ids(all), ['s-carol', 's-bob', 's-alice']);
      assert.equal(all.truncated, false);
      const [carolSession, bobSession, aliceSession] = all.sessions;
      assert.deepEqual(aliceSession, {
        id: 's-alice',
        identity: alice,
        connection: 'app',
        protocol: 'postgres',
        startedAt: at(T0),
        endedAt: at(T0 + 5000),
        endReason: 'client closed the connection',
        justification: 'INC-42',
        commands: 3,
        denied: 1,
        held: 1,
        masked: 3,
        recorded: false,
      });
      assert.equal(bobSession!.recorded, true);
      assert.equal(bobSession!.commands, 5);
      assert.deepEqual(bobSession!.identity.act, [{ sub: 'agent:planner' }]);
      assert.equal(carolSession!.endedAt, undefined, 'a session still open has no end');
      assert.equal(carolSession!.commands, 0);
    });

    it('matches identity against the root or any actor, exactly', async () => {
      assert.deepEqual(ids(await list('?identity=bob')), ['s-bob']);
      assert.deepEqual(ids(await list('?identity=agent%3Aplanner')), ['s-bob']);
      assert.deepEqual(ids(await list('?identity=alice')), ['s-alice']);
      assert.deepEqual(ids(await list('?identity=agent')), [], 'a prefix of a name is not a match');
    });

    it('filters by chain, connection and start time', async () => {
      assert.deepEqual(ids(await list('?chain=chn-carol')), ['s-carol']);
      assert.deepEqual(ids(await list('?connection=box')), ['s-bob']);
      assert.deepEqual(ids(await list('?connection=app')), ['s-carol', 's-alice']);
      assert.deepEqual(ids(await list(`?from=${at(T0 + HOUR)}&to=${at(T0 + HOUR)}`)), ['s-bob'], 'the window includes both ends');
      assert.deepEqual(ids(await list(`?from=${encodeURIComponent('2026-01-01T11:30:00+01:00')}`)), ['s-carol', 's-bob'], 'offsets are honoured');
      assert.deepEqual(ids(await list(`?to=${at(T0 + HOUR - 1)}`)), ['s-alice']);
      assert.deepEqual(ids(await list('?connection=app&identity=carol')), ['s-carol']);
    });

    it('stops at the limit and says so', async () => {
      const two = await list('?limit=2');
      assert.deepEqual(ids(two), ['s-carol', 's-bob']);
      assert.equal(two.truncated, true);
      const three = await list('?limit=3');
      assert.equal(three.truncated, false);
      assert.equal(three.sessions.length, 3);
    });

    it('refuses a malformed query with the field at fault', async () => {
      const badLimit = await get('/v1/sessions?limit=0');
      assert.equal(badLimit.status, 400);
      assert.match(String(badLimit.body.message), /^invalid query: limit:/);
      const badTime = await get('/v1/sessions?from=yesterday');
      assert.equal(badTime.status, 400);
      assert.match(String(badTime.body.message), /from:/);
    });
  });

  describe('GET /v1/sessions/{id}', () => {
    const detail = async (id: string) => {
      const { status, body } = await get(`/v1/sessions/${id}`);
      assert.equal(status, 200, JSON.stringify(body));
      return sessionDetailSchema.parse(body) as SessionDetail;
    };

    it('gives each command its statements, decisions and result, with the ledger ids and tree indexes', async () => {
      const stored = new Map<string, IntegratedEntry>();
      for await (const e of reader.sessionEntries('s-alice', false)) stored.set(e.id, e);
      const { session, commands, masked } = await detail('s-alice');
      assert.equal(session.id, 's-alice');
      assert.equal(session.denied, 1);
      assert.deepEqual(masked, { email: 2, 'us-ssn': 1 });
      assert.deepEqual(
        commands.map((c) => [c.commandId, c.kind, c.statements.map((s) => s.decision)]),
        [
          [1, 'sql.query', ['allow', 'allow']],
          [2, 'sql.query', ['deny']],
          [3, 'sql.query', ['approval']],
        ],
      );
      const [select, drop, held] = commands;
      const first = select!.statements[0]!;
      assert.equal(first.text, 'SELECT email FROM users WHERE id = $1');
      assert.equal(first.policyVersion, 'pv-1');
      assert.deepEqual(first.policies, ['all']);
      assert.equal(first.reason, undefined);
      assert.deepEqual(first.facts, { statement: 0, statements: 2, tablesRead: ['public.users'] }, 'facts are the data without the fields named on their own');
      for (const s of commands.flatMap((c) => c.statements)) {
        const original = stored.get(s.entryId);
        assert.ok(original, `statement ${s.entryId} is a stored entry`);
        assert.equal(s.index, original.index, `statement ${s.entryId} carries its Merkle leaf index`);
      }
      assert.deepEqual(select!.result, { time: at(T0 + 2000), rows: 3, masked: { email: 2, 'us-ssn': 1 } });
      assert.equal(drop!.statements[0]!.reason, 'no drops');
      assert.deepEqual(drop!.statements[0]!.policies, ['no-ddl']);
      assert.equal(drop!.result, undefined, 'a denied command has no result');
      assert.equal(held!.statements[0]!.reason, 'needs a second pair of eyes');
    });

    it('gives the result fields of a shell command and its recording digest, never the path', async () => {
      const { commands } = await detail('s-bob');
      const shell = commands[0]!;
      assert.deepEqual(shell.result, { time: at(T0 + HOUR + 2000), rows: 0, exitStatus: 0, bytesOut: CAST.length, masked: {}, recording: { sha256: sha256(CAST), bytes: CAST.length } });
      assert.equal(commands[4]!.result?.recording, undefined);
      assert.equal(commands[4]!.kind, 'ssh.exec');
    });

    it('answers 404 for a session the ledger does not hold, and for the gateway’s own entries', async () => {
      for (const id of ['s-nobody', 'system']) {
        const { status, body } = await get(`/v1/sessions/${id}`);
        assert.equal(status, 404, JSON.stringify(body));
        assert.equal(body.error, 'UNKNOWN_SESSION');
      }
    });
  });

  describe('GET /v1/sessions/{id}/recordings/{commandId}', () => {
    it('serves the asciicast when its SHA-256 is the one in the ledger', async () => {
      const { status, contentType, text } = await get('/v1/sessions/s-bob/recordings/1');
      assert.equal(status, 200, text);
      assert.equal(contentType, 'application/x-asciicast');
      assert.equal(text, CAST);
    });

    it('refuses with 409 a recording altered after it was recorded', async () => {
      const { status, body } = await get('/v1/sessions/s-bob/recordings/3');
      assert.equal(status, 409, JSON.stringify(body));
      assert.match(String(body.message), /was altered after it was recorded: its SHA-256 is [0-9a-f]{64}, the ledger holds/);
      assert.ok(!String(body.message).includes('rm'), 'the altered content is not shown');
    });

    it('answers 404 when the file is gone, or the command has no recording', async () => {
      const gone = await get('/v1/sessions/s-bob/recordings/4');
      assert.equal(gone.status, 404);
      assert.match(String(gone.body.message), /\(gone\.cast\) is gone from where recordings are kept/);
      for (const path of ['/v1/sessions/s-bob/recordings/5', '/v1/sessions/s-bob/recordings/99', '/v1/sessions/s-alice/recordings/1', '/v1/sessions/s-nobody/recordings/1']) {
        const missing = await get(path);
        assert.equal(missing.status, 404, path);
        assert.match(String(missing.body.message), /no recording of command \d+ of session [\w-]+ in the ledger/, path);
      }
    });

    it('never leaves the recordings directory for a ledger path with ../', async () => {
      const { status, body } = await get('/v1/sessions/s-bob/recordings/2');
      assert.equal(status, 404, 'outside.cast beside the directory, with the right digest, is not served');
      assert.match(String(body.message), /\(outside\.cast\) is gone/);
    });

    it('refuses a command id that is not a number', async () => {
      const { status, body } = await get('/v1/sessions/s-bob/recordings/..%2F1');
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.error, 'INVALID_REQUEST');
    });

    it('says recordings stay with the proxy task where the control plane has none (Lambda)', async () => {
      configureRuntime({ ...runtime, evidence: { ...runtime.evidence, recordingsReadable: false } });
      try {
        const { status, body } = await get('/v1/sessions/s-bob/recordings/1');
        assert.equal(status, 404);
        assert.match(String(body.message), /recordings stay with the proxy task in this deployment/);
      } finally {
        configureRuntime(runtime);
      }
    });
  });

  describe('GET /v1/ledger/status', () => {
    const status = async () => {
      const response = await get('/v1/ledger/status');
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return ledgerStatusSchema.parse(response.body) as LedgerStatus;
    };
    const failed = (s: LedgerStatus) => s.verification.checks.filter((c) => !c.ok).map((c) => c.name);
    const withCheckpoint = async (size: number, note: string, check: (s: LedgerStatus) => void) => {
      const original = (await reader.latestCheckpoint())!;
      await storeCheckpoint(size, note);
      try {
        check(await status());
      } finally {
        await storeCheckpoint(original.size, original.note);
      }
    };

    it('is ok on a fresh checkpoint, with the tree, the note and the log key', async () => {
      const state = await reader.state();
      const s = await status();
      assert.equal(s.verification.ok, true, JSON.stringify(s.verification.checks));
      assert.deepEqual(
        s.verification.checks.map((c) => c.name),
        ['tree-root', 'checkpoint-signature', 'checkpoint-origin', 'checkpoint-not-ahead-of-tree', 'checkpoint-root'],
      );
      assert.equal(s.treeSize, 19);
      assert.equal(s.treeSize, state.size);
      assert.equal(s.rootHash, state.root.toString('hex'));
      assert.equal(s.verifierKey, runtime.logSigner.vkey);
      assert.deepEqual(
        { size: s.checkpoint?.size, rootHash: s.checkpoint?.rootHash, origin: s.checkpoint?.origin },
        { size: 19, rootHash: state.root.toString('hex'), origin: runtime.config.ledger.origin },
      );
      assert.equal(s.checkpoint?.note, (await reader.latestCheckpoint())?.note);
      assert.ok(!Number.isNaN(Date.parse(s.verification.checkedAt)), 'checkedAt is a time');
    });

    it('is not ok when the stored checkpoint was tampered with', async () => {
      const { size, note } = (await reader.latestCheckpoint())!;
      const lines = note.split('\n');
      lines[2] = Buffer.alloc(32, 7).toString('base64');
      await withCheckpoint(size, lines.join('\n'), (s) => {
        assert.equal(s.verification.ok, false);
        assert.deepEqual(failed(s), ['checkpoint-signature']);
        assert.match(s.verification.checks[1]!.detail, /does not verify with the log's key: invalid signature/);
        assert.equal(s.checkpoint, undefined, 'a checkpoint that does not verify is not shown as the log’s');
      });
    });

    it('is not ok when the checkpoint is signed by another key', async () => {
      const state = await reader.state();
      const impostor = parseSignerKey(generateNoteKey(runtime.config.ledger.origin).skey);
      const note = await signNote(formatCheckpoint({ origin: runtime.config.ledger.origin, size: state.size, rootHash: state.root }), [impostor]);
      await withCheckpoint(state.size, note, (s) => {
        assert.equal(s.verification.ok, false);
        assert.deepEqual(failed(s), ['checkpoint-signature']);
        assert.match(s.verification.checks[1]!.detail, /no signature from a known key/);
      });
    });

    it('is not ok when a checkpoint signed by the log disagrees with the stored tree', async () => {
      const state = await reader.state();
      const origin = runtime.config.ledger.origin;
      const wrongRoot = await signNote(formatCheckpoint({ origin, size: state.size - 1, rootHash: state.root }), [runtime.logSigner]);
      await withCheckpoint(state.size - 1, wrongRoot, (s) => {
        assert.deepEqual(failed(s), ['checkpoint-root']);
        assert.match(s.verification.checks.at(-1)!.detail, /not the signed root/);
      });
      const ahead = await signNote(formatCheckpoint({ origin, size: state.size + 5, rootHash: state.root }), [runtime.logSigner]);
      await withCheckpoint(state.size + 5, ahead, (s) => {
        assert.deepEqual(failed(s), ['checkpoint-not-ahead-of-tree']);
        assert.match(s.verification.checks.at(-1)!.detail, /checkpoint is for 24 entries but the tree has 19/);
      });
    });
  });
});
