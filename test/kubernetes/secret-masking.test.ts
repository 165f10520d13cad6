import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertThrowsCode } from '../../proxy-fleet/postgres/protocol/testing/assert-code.js';
import {
  MASKED_SECRET_VALUE,
  MAX_WATCH_EVENT_BYTES,
  SecretMaskingError,
  SecretWatchMasker,
  maskSecretsInJson,
} from '../../proxy-fleet/kubernetes/secret-masking.js';
import { mulberry32 } from '../helpers/prng.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const MASKED_DATA = b64(MASKED_SECRET_VALUE);
const CARD = '4111111111111111';
const EMAIL = 'ana@example.com';
const SECRETS = [CARD, EMAIL, b64(CARD), b64(EMAIL), 'hunter2', b64('hunter2'), 'pässwörd', b64('pässwörd')];

function assertNoSecrets(output: Buffer): void {
  const text = output.toString('utf8');
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `output contains ${secret}`);
}

function secret(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name, namespace: 'shop', resourceVersion: '42', labels: { app: 'shop' } },
    type: 'Opaque',
    data: { card: b64(CARD), email: b64(EMAIL) },
    ...extra,
  };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value) + '\n', 'utf8');
const parse = (body: Buffer): any => JSON.parse(body.toString('utf8'));

describe('maskSecretsInJson', () => {
  it('masks a Secret get, keeping keys and everything else', () => {
    const result = maskSecretsInJson(json(secret('payments')));
    assert.equal(result.masked, 2);
    assertNoSecrets(result.body);
    assert.ok(result.body.toString().endsWith('\n'));
    assert.deepEqual(parse(result.body), { ...secret('payments'), data: { card: MASKED_DATA, email: MASKED_DATA } });
  });

  it('masks stringData with the plain marker', () => {
    const result = maskSecretsInJson(json(secret('s', { stringData: { password: 'hunter2', note: 'pässwörd' } })));
    assert.equal(result.masked, 4);
    assertNoSecrets(result.body);
    assert.deepEqual(parse(result.body).stringData, { password: MASKED_SECRET_VALUE, note: MASKED_SECRET_VALUE });
  });

  it('masks every item of a SecretList, whose items carry no kind', () => {
    const items = [secret('a'), secret('b'), secret('empty', { data: undefined })].map(({ kind: _k, apiVersion: _a, ...item }) => item);
    const result = maskSecretsInJson(json({ kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items }));
    assert.equal(result.masked, 4);
    assertNoSecrets(result.body);
    const out = parse(result.body);
    assert.deepEqual(out.items[0].data, { card: MASKED_DATA, email: MASKED_DATA });
    assert.equal(out.items[2].data, undefined);
  });

  it('masks Secrets inside a generic List and leaves its other items alone', () => {
    const configMap = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { mode: 'fast' } };
    const result = maskSecretsInJson(json({ kind: 'List', apiVersion: 'v1', items: [configMap, secret('a')] }));
    assert.equal(result.masked, 2);
    assertNoSecrets(result.body);
    assert.deepEqual(parse(result.body).items[0], configMap);
  });

  it('returns the same Buffer when there is no Secret', () => {
    const configMap = json({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { card: b64(CARD) } });
    const result = maskSecretsInJson(configMap);
    assert.equal(result.body, configMap);
    assert.equal(result.masked, 0);
    const list = json({ kind: 'ConfigMapList', apiVersion: 'v1', items: [{ metadata: { name: 'c' }, data: { a: 'b' } }] });
    assert.equal(maskSecretsInJson(list).body, list);
    const dataless = json(secret('s', { data: undefined }));
    assert.equal(maskSecretsInJson(dataless).body, dataless);
  });

  it('returns non-JSON bodies unchanged', () => {
    for (const body of [
      Buffer.from('not json'),
      Buffer.from('{"kind":"Secret","data":{"card":"' + b64(CARD)), // truncated
      Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0d, 0xff, 0xfe]), // protobuf magic and junk
      Buffer.from([0x22, 0xc3, 0x22]), // invalid UTF-8
      Buffer.alloc(0),
      Buffer.from('null'),
      Buffer.from('"Secret"'),
      Buffer.from('[{"kind":"Secret","data":{"a":"b"}}]'),
    ]) {
      const result = maskSecretsInJson(body);
      assert.equal(result.body, body);
      assert.equal(result.masked, 0);
    }
  });

  it('does not crash on odd shapes', () => {
    const odd = [
      { kind: 'Secret', data: 'c2VjcmV0', stringData: null },
      { kind: 'Secret', data: [b64(CARD)] },
      { kind: 'SecretList', items: [null, 1, 'x', secret('a')] },
      { kind: 'Table', rows: [null, { cells: [] }, { object: 5 }] },
      { kind: 'FooList', items: 'nope' },
      { type: 'ADDED' },
      { kind: 'Secret', metadata: { annotations: null } },
    ];
    for (const value of odd) assert.doesNotThrow(() => maskSecretsInJson(json(value)));
    assertNoSecrets(maskSecretsInJson(json(odd[1])).body);
    const nested = (depth: number, inner: string): Buffer => Buffer.from('{"kind":"List","items":['.repeat(depth) + inner + ']}'.repeat(depth));
    const deepSecret = nested(500, JSON.stringify(secret('deep')));
    assert.equal(maskSecretsInJson(deepSecret).masked, 2);
    const deeper = nested(100_000, JSON.stringify(secret('deep')));
    assertThrowsCode(() => maskSecretsInJson(deeper), SecretMaskingError, 'too-deep');
    const deepNoSecret = nested(100_000, '{"kind":"ConfigMap"}');
    assert.equal(maskSecretsInJson(deepNoSecret).body, deepNoSecret);
  });

  it('masks Secrets in Table rows with includeObject=Object and leaves cells', () => {
    const row = (name: string) => ({ cells: [name, 'Opaque', 2, '5d'], object: secret(name) });
    const table = {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: '9' },
      columnDefinitions: [{ name: 'Name', type: 'string' }, { name: 'Type', type: 'string' }, { name: 'Data', type: 'string' }, { name: 'Age', type: 'string' }],
      rows: [row('a'), row('b')],
    };
    const result = maskSecretsInJson(json(table));
    assert.equal(result.masked, 4);
    assertNoSecrets(result.body);
    const out = parse(result.body);
    assert.deepEqual(out.rows[0].cells, ['a', 'Opaque', 2, '5d']);
    assert.deepEqual(out.rows[1].object.data, { card: MASKED_DATA, email: MASKED_DATA });
    assert.deepEqual(out.columnDefinitions, table.columnDefinitions);
  });

  it('leaves a Table of PartialObjectMetadata without secrets unchanged', () => {
    const table = json({
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      rows: [{ cells: ['a', 'Opaque', 2], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'a' } } }],
    });
    assert.equal(maskSecretsInJson(table).body, table);
  });

  describe('last-applied-configuration', () => {
    const KEY = 'kubectl.kubernetes.io/last-applied-configuration';
    const applied = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'shop', annotations: {} },
      data: { card: b64(CARD) },
      stringData: { email: EMAIL },
    }) + '\n';

    it('masks the data inside a valid annotation', () => {
      const result = maskSecretsInJson(json(secret('s', { metadata: { name: 's', annotations: { [KEY]: applied, other: 'kept' } } })));
      assert.equal(result.masked, 4);
      assertNoSecrets(result.body);
      const annotations = parse(result.body).metadata.annotations;
      assert.equal(annotations.other, 'kept');
      assert.ok(annotations[KEY].endsWith('\n'));
      const inner = JSON.parse(annotations[KEY]);
      assert.deepEqual(inner.data, { card: MASKED_DATA });
      assert.deepEqual(inner.stringData, { email: MASKED_SECRET_VALUE });
      assert.deepEqual(inner.metadata, { name: 's', namespace: 'shop', annotations: {} });
    });

    it('replaces an annotation that does not parse', () => {
      for (const garbage of [`{"kind":"Secret","data":{"card":"${b64(CARD)}"`, `"${EMAIL}"`, '']) {
        const result = maskSecretsInJson(json(secret('s', { metadata: { name: 's', annotations: { [KEY]: garbage } } })));
        assert.equal(result.masked, 3);
        assertNoSecrets(result.body);
        assert.equal(parse(result.body).metadata.annotations[KEY], MASKED_SECRET_VALUE);
      }
    });

    it('masks the annotation on PartialObjectMetadata rows of a Table', () => {
      const table = {
        kind: 'Table',
        apiVersion: 'meta.k8s.io/v1',
        rows: [
          { cells: ['s'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 's', annotations: { [KEY]: applied } } } },
          { cells: ['t'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 't', annotations: { [KEY]: 'garbage ' + EMAIL } } } },
        ],
      };
      const result = maskSecretsInJson(json(table));
      assert.equal(result.masked, 3);
      assertNoSecrets(result.body);
    });

    it('leaves the annotation of other kinds alone', () => {
      const configMap = json({ kind: 'ConfigMap', metadata: { name: 'c', annotations: { [KEY]: '{"kind":"ConfigMap","data":{"a":"b"}}' } }, data: { a: 'b' } });
      assert.equal(maskSecretsInJson(configMap).body, configMap);
      const broken = json({ kind: 'ConfigMap', metadata: { name: 'c', annotations: { [KEY]: '{' } } });
      assert.equal(maskSecretsInJson(broken).body, broken);
    });

    it('masks an applied Secret that omits its kind', () => {
      const kindless = JSON.stringify({ metadata: { name: 's' }, data: { card: b64(CARD) } });
      const result = maskSecretsInJson(json(secret('s', { metadata: { name: 's', annotations: { [KEY]: kindless } } })));
      assert.equal(result.masked, 3);
      assertNoSecrets(result.body);
    });
  });
});

function event(type: string, object: unknown): string {
  return JSON.stringify({ type, object }) + '\n';
}

function runWatch(stream: Buffer, cuts: number[]): { out: Buffer; masked: number } {
  const masker = new SecretWatchMasker();
  const parts: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    parts.push(masker.push(stream.subarray(start, cut)));
    start = cut;
  }
  parts.push(masker.end());
  return { out: Buffer.concat(parts), masked: masker.masked };
}

describe('SecretWatchMasker', () => {
  const small = Buffer.from(
    event('ADDED', secret('a', { stringData: { note: 'pässwörd' } })) +
      event('MODIFIED', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'ç' }, data: { k: 'vé' } }) +
      event('BOOKMARK', { kind: 'Secret', apiVersion: 'v1', metadata: { resourceVersion: '12' } }) +
      event('DELETED', secret('b')),
    'utf8',
  );
  const expected = runWatch(small, []);

  it('masks each event and leaves other events byte for byte', () => {
    assert.equal(expected.masked, 5);
    assertNoSecrets(expected.out);
    const lines = expected.out.toString('utf8').split('\n');
    assert.equal(lines.length, 5);
    assert.equal(lines[4], '');
    assert.deepEqual(JSON.parse(lines[0]!).object.stringData, { note: MASKED_SECRET_VALUE });
    assert.equal(lines[1]! + '\n', event('MODIFIED', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'ç' }, data: { k: 'vé' } }));
    assert.deepEqual(JSON.parse(lines[3]!).object.data, { card: MASKED_DATA, email: MASKED_DATA });
  });

  it('gives the same result split at every byte position', () => {
    for (let cut = 0; cut <= small.length; cut++) {
      const result = runWatch(small, [cut]);
      assert.deepEqual(result.out, expected.out, `cut at ${cut}`);
      assert.equal(result.masked, expected.masked);
    }
    const oneByOne = runWatch(small, Array.from({ length: small.length }, (_, i) => i));
    assert.deepEqual(oneByOne.out, expected.out);
  });

  it('gives the same result for a larger stream split randomly', () => {
    let text = '';
    for (let i = 0; i < 200; i++) {
      text +=
        i % 3 === 0
          ? event('ADDED', secret(`s${i}`, { stringData: { note: 'pässwörd' } }))
          : i % 3 === 1
            ? event('MODIFIED', { kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: [{ cells: ['x'], object: secret(`t${i}`) }] })
            : event('ADDED', { kind: 'Pod', apiVersion: 'v1', metadata: { name: `p${i}`, annotations: { note: '日本語' } } });
    }
    const stream = Buffer.from(text, 'utf8');
    const whole = runWatch(stream, []);
    assert.equal(whole.masked, 67 * 3 + 67 * 2);
    assertNoSecrets(whole.out);
    const random = mulberry32(20240607);
    for (let round = 0; round < 20; round++) {
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += 1 + Math.floor(random() * 400);
        if (at >= stream.length) break;
        cuts.push(at);
      }
      const result = runWatch(stream, cuts);
      assert.deepEqual(result.out, whole.out, `round ${round}`);
      assert.equal(result.masked, whole.masked);
    }
  });

  it('masks a complete final event without its newline and drops an incomplete one', () => {
    const last = event('ADDED', secret('z')).trimEnd();
    const complete = runWatch(Buffer.from(last), []);
    assert.equal(complete.masked, 2);
    assertNoSecrets(complete.out);
    const truncated = Buffer.from(last.slice(0, last.indexOf(b64(EMAIL)) + 4));
    assert.ok(truncated.toString().includes('"data"'), 'the cut-off event reached the data');
    assert.equal(runWatch(truncated, []).out.length, 0);
  });

  it('passes through non-JSON lines', () => {
    const stream = Buffer.from('hello\n\n{"type":"ERROR","object":{"kind":"Status","code":410}}\n');
    const result = runWatch(stream, [3]);
    assert.deepEqual(result.out, stream);
    assert.equal(result.masked, 0);
  });

  it('does not keep a reference to the caller’s chunk', () => {
    const masker = new SecretWatchMasker();
    const chunk = Buffer.from(event('ADDED', secret('a')));
    const head = Buffer.from(chunk.subarray(0, 30));
    assert.equal(masker.push(head).length, 0);
    head.fill(0x20);
    const out = Buffer.concat([masker.push(chunk.subarray(30)), masker.end()]);
    assert.equal(masker.masked, 2);
    assertNoSecrets(out);
  });

  it('throws a typed error for an oversized event and refuses to continue', () => {
    const masker = new SecretWatchMasker();
    const piece = Buffer.alloc(MAX_WATCH_EVENT_BYTES / 4, 0x20);
    for (let i = 0; i < 4; i++) masker.push(piece);
    assertThrowsCode(() => masker.push(Buffer.from('x')), SecretMaskingError, 'watch-event-too-large');
    assertThrowsCode(() => masker.push(Buffer.from('\n')), SecretMaskingError, 'watch-ended');

    const small = new SecretWatchMasker(10);
    assert.deepEqual(small.push(Buffer.from('0123456789\n')), Buffer.from('0123456789\n'));
    assertThrowsCode(() => small.push(Buffer.from('0123456789A\n')), SecretMaskingError, 'watch-event-too-large');
  });
});
