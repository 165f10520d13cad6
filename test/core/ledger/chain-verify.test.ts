import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyChains } from '../../../core/ledger/chain-verify.js';
import { GENESIS_HASH, sealEntry, sha256Hex, type EntryType, type StoredEntry } from '../../../core/ledger/entry.js';

const identity = { sub: 'alice', groups: ['eng'], chain: 'chain-1', act: [] };

function chain(session: string, types: EntryType[]): StoredEntry[] {
  const out: StoredEntry[] = [];
  let prev = GENESIS_HASH;
  types.forEach((type, seq) => {
    const sealed = sealEntry({ v: 1, id: `b1.${seq}`, digest: 'd', session, seq, prev, type, time: `2026-11-26T00:00:0${seq}.000Z`, identity, connection: 'app', data: { n: seq } });
    out.push(sealed);
    prev = sealed.hash;
  });
  return out;
}

const intact = () => [...chain('s1', ['session.start', 'command', 'command', 'session.end']), ...chain('s2', ['session.start', 'command'])];

describe('verifyChains', () => {
  it('accepts intact chains in any order', () => {
    const report = verifyChains(intact().reverse());
    assert.deepEqual(report, { ok: true, sessions: 2, entries: 6, problems: [] });
  });

  it('reports the same first problem per chain whether entries come in seq order or not', () => {
    const edited = intact();
    edited[2] = { ...edited[2]!, entry: edited[2]!.entry.replace('"n":2', '"n":3') };
    const gap = chain('s3', ['session.start', 'command', 'command']).filter((entry) => entry.seq !== 1);
    const all = [...edited, ...gap, ...chain('s4', ['session.start'])];
    const inOrder = verifyChains(all);
    assert.deepEqual(inOrder.problems.map((p) => [p.entry, p.kind]), [['s1/2', 'hash-mismatch'], ['s3/1', 'missing-entries']]);
    assert.deepEqual(verifyChains([...all].reverse()), inOrder);
    const interleaved = all.flatMap((entry, i) => (i % 2 === 0 ? [entry] : [])).concat(all.filter((_, i) => i % 2 === 1));
    assert.deepEqual(verifyChains(interleaved), inOrder);
  });

  it('names an edited entry (hash mismatch)', () => {
    const entries = intact();
    entries[2] = { ...entries[2]!, entry: entries[2]!.entry.replace('"n":2', '"n":3') };
    assert.deepEqual(verifyChains(entries).problems.map((p) => [p.entry, p.kind]), [['s1/2', 'hash-mismatch']]);
  });

  it('names the next entry when an edit is re-hashed (broken link)', () => {
    const entries = intact();
    const edited = entries[1]!.entry.replace('"n":1', '"n":9');
    entries[1] = { ...entries[1]!, entry: edited, hash: sha256Hex(edited) };
    assert.deepEqual(verifyChains(entries).problems.map((p) => [p.entry, p.kind]), [['s1/2', 'broken-link']]);
  });

  it('detects a deleted entry', () => {
    const entries = intact().filter((entry) => !(entry.session === 's1' && entry.seq === 1));
    const [problem] = verifyChains(entries).problems;
    assert.equal(problem?.kind, 'missing-entries');
    assert.equal(problem?.entry, 's1/1');
  });

  it('detects swapped entries (reordering)', () => {
    const entries = intact();
    const a = entries[1]!;
    const b = entries[2]!;
    entries[1] = { ...b, seq: a.seq };
    entries[2] = { ...a, seq: b.seq };
    assert.equal(verifyChains(entries).problems[0]?.entry, 's1/1');
  });

  it('detects text that was re-serialized and re-hashed, at the next link', () => {
    const entries = intact();
    const pretty = JSON.stringify(JSON.parse(entries[0]!.entry), null, 1);
    entries[0] = { ...entries[0]!, entry: pretty, hash: sha256Hex(pretty) };
    assert.deepEqual(verifyChains(entries).problems.map((p) => [p.entry, p.kind]), [['s1/1', 'broken-link']]);
  });

  it('detects an entry moved to another key and a chain that does not start with session.start', () => {
    const moved = intact();
    moved[4] = { ...moved[4]!, session: 's3' };
    assert.ok(verifyChains(moved).problems.some((p) => p.kind === 'key-mismatch' && p.entry === 's3/0'));
    assert.equal(verifyChains(chain('s9', ['command']))?.problems[0]?.kind, 'bad-start');
  });

  it('reports unreadable entries and duplicates', () => {
    const entries = intact();
    entries[0] = { ...entries[0]!, entry: 'not json', hash: sha256Hex('not json') };
    assert.equal(verifyChains(entries).problems[0]?.kind, 'unreadable');
    const dup = intact();
    dup.push(dup[1]!);
    assert.equal(verifyChains(dup).problems[0]?.kind, 'duplicate-entry');
  });
});
