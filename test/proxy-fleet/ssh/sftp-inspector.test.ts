import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  MAX_SFTP_PACKET_LENGTH,
  SftpInspector,
  SftpProtocolError,
  type SftpDecisionRequest,
  type SftpFileRecord,
  type SftpProtocolErrorCode,
} from '../../../proxy-fleet/ssh/sftp-inspector.js';
import { mulberry32 } from '../../helpers/prng.js';

// --- A small SFTP v3 encoder (draft-ietf-secsh-filexfer-02) ---

const T = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
} as const;

const FXF = { READ: 0x1, WRITE: 0x2, APPEND: 0x4, CREAT: 0x8, TRUNC: 0x10, EXCL: 0x20 } as const;

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

function u64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

function str(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([u32(bytes.length), bytes]);
}

const NO_ATTRS = u32(0);

function packet(type: number, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}

const request = (type: number, id: number, ...fields: Buffer[]): Buffer => packet(type, u32(id), ...fields);
const init = (version = 3): Buffer => packet(T.INIT, u32(version));
const version = (value = 3): Buffer => packet(T.VERSION, u32(value), str('limits@openssh.com'), str('1'));
const open = (id: number, path: string, pflags: number): Buffer => request(T.OPEN, id, str(path), u32(pflags), NO_ATTRS);
const opendir = (id: number, path: string): Buffer => request(T.OPENDIR, id, str(path));
const close = (id: number, handle: string): Buffer => request(T.CLOSE, id, str(handle));
const read = (id: number, handle: string, offset: number, length: number): Buffer => request(T.READ, id, str(handle), u64(offset), u32(length));
const write = (id: number, handle: string, offset: number, data: Buffer): Buffer => request(T.WRITE, id, str(handle), u64(offset), str(data));
const pathRequest = (type: number, id: number, path: string): Buffer => request(type, id, str(path));
const twoPaths = (type: number, id: number, first: string, second: string): Buffer => request(type, id, str(first), str(second));
const extended = (id: number, name: string, ...fields: Buffer[]): Buffer => request(T.EXTENDED, id, str(name), ...fields);
const handleReply = (id: number, handle: string): Buffer => request(T.HANDLE, id, str(handle));
const dataReply = (id: number, data: Buffer): Buffer => request(T.DATA, id, str(data));
const attrsReply = (id: number): Buffer => request(T.ATTRS, id, NO_ATTRS);
const nameReply = (id: number, name: string): Buffer => request(T.NAME, id, u32(1), str(name), str(`-rw-r--r-- 1 u g 0 Jan 1 00:00 ${name}`), NO_ATTRS);
const status = (id: number, code: number, message = '', language = ''): Buffer => request(T.STATUS, id, u32(code), str(message), str(language));

/** Cuts a byte stream into whole packets; fails if it ends inside one. */
function packets(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < stream.length) {
    assert.ok(offset + 4 <= stream.length, 'stream ends inside a length prefix');
    const end = offset + 4 + stream.readUInt32BE(offset);
    assert.ok(end <= stream.length, 'stream ends inside a packet');
    out.push(stream.subarray(offset, end));
    offset = end;
  }
  return out;
}

/** One short line per packet (type, id, size, digest), so a failed comparison prints readably. */
function summarize(stream: Buffer): string[] {
  return packets(stream).map((each) => {
    const id = each[4] === T.INIT || each[4] === T.VERSION ? '-' : String(each.readUInt32BE(5));
    return `type ${each[4]} id ${id} ${each.length}B ${createHash('sha256').update(each).digest('hex').slice(0, 16)}`;
  });
}

const bytes = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

// --- Harness ---

type Verdict = { allowed: true } | { allowed: false; message: string };
const ALLOW: Verdict = { allowed: true };

class Harness {
  readonly sentToServer: Buffer[] = [];
  readonly sentToClient: Buffer[] = [];
  readonly decisions: SftpDecisionRequest[] = [];
  readonly files: SftpFileRecord[] = [];
  readonly inspector: SftpInspector;

  constructor(decide: (request: SftpDecisionRequest) => Promise<Verdict> = async () => ALLOW) {
    this.inspector = new SftpInspector({
      decide: (request) => {
        this.decisions.push(request);
        return decide(request);
      },
      // Copied on arrival, so a buffer the inspector later reused would show up as wrong bytes.
      toServer: (chunk) => this.sentToServer.push(Buffer.from(chunk)),
      toClient: (chunk) => this.sentToClient.push(Buffer.from(chunk)),
      onFile: (record) => this.files.push(record),
    });
  }

  server(): Buffer {
    return Buffer.concat(this.sentToServer);
  }

  client(): Buffer {
    return Buffer.concat(this.sentToClient);
  }

  clear(): void {
    this.sentToServer.length = 0;
    this.sentToClient.length = 0;
  }
}

/** A harness past INIT/VERSION, with nothing recorded yet. */
function session(decide?: (request: SftpDecisionRequest) => Promise<Verdict>): Harness {
  const harness = new Harness(decide);
  harness.inspector.fromClient(init());
  harness.inspector.fromServer(version());
  harness.clear();
  return harness;
}

/** Lets every pending decision settle. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

const neverDecide = async (request: SftpDecisionRequest): Promise<Verdict> => {
  throw new Error(`decide() called for ${request.operation} ${request.path}`);
};

function assertProtocolError(action: () => void, code: SftpProtocolErrorCode): SftpProtocolError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof SftpProtocolError, `expected SftpProtocolError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

describe('SftpInspector', () => {
  it('holds requests until the server answers VERSION 3, then forwards them', () => {
    const harness = new Harness(neverDecide);
    const stat = pathRequest(T.STAT, 1, '/');
    harness.inspector.fromClient(Buffer.concat([init(), stat]));
    assert.deepEqual(harness.server(), init());
    harness.inspector.fromServer(version());
    assert.deepEqual(harness.client(), version());
    assert.deepEqual(harness.server(), Buffer.concat([init(), stat]));
  });

  it('refuses to inspect any SFTP version but 3', () => {
    const harness = new Harness(neverDecide);
    harness.inspector.fromClient(init(6));
    assertProtocolError(() => harness.inspector.fromServer(version(6)), 'UNSUPPORTED_VERSION');
    assert.deepEqual(harness.client(), Buffer.alloc(0));
    // Once broken, it stays broken.
    assertProtocolError(() => harness.inspector.fromClient(pathRequest(T.REMOVE, 1, '/x')), 'UNSUPPORTED_VERSION');
    assert.deepEqual(harness.server(), init(6));
  });

  it('forwards an allowed OPEN for write unchanged, binds its handle and reports the bytes written on CLOSE', async () => {
    const harness = session();
    const sent: Buffer[] = [open(1, '/tmp/x', FXF.WRITE | FXF.CREAT | FXF.TRUNC)];
    harness.inspector.fromClient(sent[0]!);
    await settle();
    assert.deepEqual(harness.decisions, [{ operation: 'open-write', path: '/tmp/x' }]);
    assert.deepEqual(harness.server(), sent[0]);

    const reply = handleReply(1, 'H\x00\xff1');
    harness.inspector.fromServer(reply);
    assert.deepEqual(harness.client(), reply);

    const chunks = [bytes(5, 0x61), bytes(32768, 0x62), bytes(1000, 0x63)];
    let offset = 0;
    chunks.forEach((chunk, index) => {
      sent.push(write(2 + index, 'H\x00\xff1', offset, chunk));
      offset += chunk.length;
    });
    harness.inspector.fromClient(Buffer.concat(sent.slice(1)));
    harness.inspector.fromServer(Buffer.concat([status(2, 0), status(3, 0), status(4, 0)]));
    assert.deepEqual(harness.files, []);

    sent.push(close(5, 'H\x00\xff1'));
    harness.inspector.fromClient(sent[4]!);
    await settle();
    assert.deepEqual(harness.server(), Buffer.concat(sent));
    assert.equal(harness.decisions.length, 1, 'WRITE and CLOSE need no decision');
    assert.deepEqual(harness.files, [{ path: '/tmp/x', mode: 'write', bytesRead: 0, bytesWritten: 5 + 32768 + 1000, closed: true }]);
  });

  it('counts the DATA replies to READs of a file opened for reading', async () => {
    const harness = session();
    harness.inspector.fromClient(open(1, '/etc/motd', FXF.READ));
    await settle();
    assert.deepEqual(harness.decisions, [{ operation: 'open-read', path: '/etc/motd' }]);
    harness.inspector.fromServer(handleReply(1, 'h1'));
    harness.inspector.fromClient(Buffer.concat([read(2, 'h1', 0, 32768), read(3, 'h1', 32768, 32768), read(4, 'h1', 65536, 32768)]));
    // Replies may come in any order (draft section 6.1): they are matched by id.
    harness.inspector.fromServer(Buffer.concat([dataReply(3, bytes(700, 2)), dataReply(2, bytes(32768, 1)), status(4, 1, 'EOF')]));
    harness.inspector.fromClient(close(5, 'h1'));
    assert.deepEqual(harness.files, [{ path: '/etc/motd', mode: 'read', bytesRead: 32768 + 700, bytesWritten: 0, closed: true }]);
  });

  it('maps OPEN flags to an operation and a mode', async () => {
    const cases: [number, SftpDecisionRequest['operation'], SftpFileRecord['mode']][] = [
      [FXF.READ, 'open-read', 'read'],
      [0, 'open-read', 'read'],
      [FXF.WRITE, 'open-write', 'write'],
      [FXF.READ | FXF.WRITE, 'open-write', 'read-write'],
      [FXF.WRITE | FXF.APPEND, 'open-write', 'write'],
      [FXF.CREAT | FXF.EXCL, 'open-write', 'write'],
      // O_RDONLY|O_TRUNC still truncates on Linux.
      [FXF.READ | FXF.TRUNC, 'open-write', 'read-write'],
    ];
    for (const [pflags, operation, mode] of cases) {
      const harness = session();
      harness.inspector.fromClient(open(7, '/f', pflags));
      await settle();
      harness.inspector.fromServer(handleReply(7, 'h'));
      harness.inspector.end();
      assert.deepEqual(harness.decisions, [{ operation, path: '/f' }], `pflags ${pflags}`);
      assert.deepEqual(harness.files, [{ path: '/f', mode, bytesRead: 0, bytesWritten: 0, closed: false }], `pflags ${pflags}`);
    }
  });

  it('forgets an OPEN the server answered with STATUS', async () => {
    const harness = session();
    harness.inspector.fromClient(open(1, '/missing', FXF.READ));
    await settle();
    harness.inspector.fromServer(status(1, 2, 'No such file'));
    // A HANDLE for the same id afterwards binds nothing.
    harness.inspector.fromServer(handleReply(1, 'h'));
    harness.inspector.fromClient(Buffer.concat([write(2, 'h', 0, bytes(10, 0)), close(3, 'h')]));
    harness.inspector.end();
    assert.deepEqual(harness.files, []);
  });

  it('ignores a HANDLE for an OPEN that was not forwarded yet', async () => {
    const gate = deferred<Verdict>();
    const harness = session(() => gate.promise);
    harness.inspector.fromClient(open(1, '/secret', FXF.READ));
    harness.inspector.fromServer(handleReply(1, 'h'));
    gate.resolve({ allowed: false, message: 'no' });
    await settle();
    harness.inspector.end();
    assert.deepEqual(harness.files, []);
  });

  it('reports the file a reissued handle replaces', async () => {
    const harness = session();
    harness.inspector.fromClient(Buffer.concat([open(1, '/one', FXF.WRITE), open(2, '/two', FXF.READ)]));
    await settle();
    harness.inspector.fromServer(Buffer.concat([handleReply(1, 'h'), handleReply(2, 'h')]));
    harness.inspector.fromClient(close(3, 'h'));
    assert.deepEqual(harness.files, [
      { path: '/one', mode: 'write', bytesRead: 0, bytesWritten: 0, closed: false },
      { path: '/two', mode: 'read', bytesRead: 0, bytesWritten: 0, closed: true },
    ]);
  });

  it('does not forward a refused REMOVE, answers it with STATUS permission denied and goes on in order', async () => {
    const harness = session(async (request) => (request.operation === 'remove' ? { allowed: false, message: 'Warden denied this: no deleting' } : ALLOW));
    const refused = pathRequest(T.REMOVE, 5, '/srv/data.db');
    const after = [pathRequest(T.STAT, 6, '/srv'), pathRequest(T.MKDIR, 7, '/srv/new'), pathRequest(T.LSTAT, 8, '/srv/new')];
    harness.inspector.fromClient(Buffer.concat([refused, ...after]));
    assert.deepEqual(harness.server(), Buffer.alloc(0), 'nothing overtakes the pending REMOVE');
    await settle();
    assert.deepEqual(harness.decisions, [
      { operation: 'remove', path: '/srv/data.db' },
      { operation: 'mkdir', path: '/srv/new' },
    ]);
    assert.deepEqual(harness.server(), Buffer.concat(after));
    assert.deepEqual(harness.client(), status(5, 3, 'Warden denied this: no deleting', ''));
    // The id is free again once answered.
    harness.inspector.fromClient(pathRequest(T.STAT, 5, '/'));
    assert.deepEqual(packets(harness.server()).at(-1), pathRequest(T.STAT, 5, '/'));
  });

  it('holds later packets behind a slow decision without holding the server back', async () => {
    const gates = [deferred<Verdict>(), deferred<Verdict>()];
    let calls = 0;
    const harness = session(() => gates[calls++]!.promise);
    const stat1 = pathRequest(T.STAT, 1, '/');
    const mkdir2 = pathRequest(T.MKDIR, 2, '/a');
    const stat3 = pathRequest(T.STAT, 3, '/a');
    const rmdir4 = pathRequest(T.RMDIR, 4, '/b');
    const stat5 = pathRequest(T.STAT, 5, '/b');
    harness.inspector.fromClient(stat1);
    harness.inspector.fromClient(mkdir2);
    harness.inspector.fromClient(Buffer.concat([stat3, rmdir4]));
    harness.inspector.fromClient(stat5);
    await settle();
    assert.deepEqual(harness.server(), stat1);
    assert.equal(harness.decisions.length, 1, 'the second decision waits for the first');
    assert.equal(harness.inspector.heldClientBytes, stat3.length + rmdir4.length + stat5.length);

    harness.inspector.fromServer(attrsReply(1));
    assert.deepEqual(harness.client(), attrsReply(1), 'server packets are not delayed');

    gates[0]!.resolve(ALLOW);
    await settle();
    assert.deepEqual(harness.server(), Buffer.concat([stat1, mkdir2, stat3]));
    assert.deepEqual(harness.decisions, [
      { operation: 'mkdir', path: '/a' },
      { operation: 'rmdir', path: '/b' },
    ]);

    gates[1]!.resolve(ALLOW);
    await settle();
    assert.deepEqual(harness.server(), Buffer.concat([stat1, mkdir2, stat3, rmdir4, stat5]));
    assert.equal(harness.inspector.heldClientBytes, 0);
  });

  it('writes a refusal only between whole server packets', async () => {
    const gate = deferred<Verdict>();
    const harness = session(() => gate.promise);
    harness.inspector.fromClient(Buffer.concat([pathRequest(T.READDIR, 1, 'd'), pathRequest(T.REMOVE, 2, '/x')]));
    const name = nameReply(1, 'a-rather-long-file-name.txt');
    harness.inspector.fromServer(name.subarray(0, 2));
    harness.inspector.fromServer(name.subarray(2, 20));
    gate.resolve({ allowed: false, message: 'no' });
    await settle();
    harness.inspector.fromServer(name.subarray(20));
    const received = packets(harness.client()).map((each) => each.toString('hex'));
    assert.equal(received.length, 2);
    assert.deepEqual(new Set(received), new Set([name.toString('hex'), status(2, 3, 'no').toString('hex')]));
  });

  it('fails closed when decide() rejects', async () => {
    const harness = session(async () => {
      throw new Error('control plane down');
    });
    harness.inspector.fromClient(pathRequest(T.RMDIR, 9, '/x'));
    await settle();
    assert.deepEqual(harness.server(), Buffer.alloc(0));
    const [reply] = packets(harness.client());
    assert.ok(reply);
    assert.equal(reply[4], T.STATUS);
    assert.equal(reply.readUInt32BE(5), 9);
    assert.equal(reply.readUInt32BE(9), 3);
  });

  it('decides renames, links, attribute changes and unknown extensions', async () => {
    const harness = session();
    harness.inspector.fromClient(open(1, '/home/u/f', FXF.READ | FXF.WRITE));
    await settle();
    harness.inspector.fromServer(handleReply(1, 'fh'));
    const sent = [
      twoPaths(T.RENAME, 2, '/a', '/b'),
      extended(3, 'posix-rename@openssh.com', str('/c'), str('/d')),
      // OpenSSH order: targetpath, then linkpath.
      twoPaths(T.SYMLINK, 4, '/etc/shadow', '/tmp/link'),
      extended(5, 'hardlink@openssh.com', str('/etc/passwd'), str('/tmp/hard')),
      request(T.SETSTAT, 6, str('/s'), NO_ATTRS),
      extended(7, 'lsetstat@openssh.com', str('/ls'), NO_ATTRS),
      request(T.FSETSTAT, 8, str('fh'), NO_ATTRS),
      request(T.MKDIR, 9, str('/m'), NO_ATTRS),
      pathRequest(T.RMDIR, 10, '/r'),
      pathRequest(T.REMOVE, 11, '/rm'),
      extended(12, 'frobnicate@example.com', str('/z')),
    ];
    harness.inspector.fromClient(Buffer.concat(sent));
    await settle();
    assert.deepEqual(harness.decisions.slice(1), [
      { operation: 'rename', path: '/a', targetPath: '/b' },
      { operation: 'rename', path: '/c', targetPath: '/d' },
      { operation: 'symlink', path: '/tmp/link', targetPath: '/etc/shadow' },
      { operation: 'hardlink', path: '/tmp/hard', targetPath: '/etc/passwd' },
      { operation: 'setstat', path: '/s' },
      { operation: 'setstat', path: '/ls' },
      { operation: 'setstat', path: '/home/u/f' },
      { operation: 'mkdir', path: '/m' },
      { operation: 'rmdir', path: '/r' },
      { operation: 'remove', path: '/rm' },
      { operation: 'extended:frobnicate@example.com', path: '' },
    ]);
    assert.deepEqual(harness.server(), Buffer.concat([open(1, '/home/u/f', FXF.READ | FXF.WRITE), ...sent]));
  });

  it('passes reads of names and attributes without a decision', async () => {
    const harness = session(neverDecide);
    const sent = [
      pathRequest(T.STAT, 1, '/'),
      pathRequest(T.LSTAT, 2, '/l'),
      pathRequest(T.REALPATH, 3, '.'),
      pathRequest(T.READLINK, 4, '/l'),
      opendir(5, '/home'),
      extended(6, 'statvfs@openssh.com', str('/')),
      extended(7, 'limits@openssh.com'),
      extended(8, 'expand-path@openssh.com', str('~/x')),
    ];
    harness.inspector.fromClient(Buffer.concat(sent));
    const replies = [attrsReply(1), attrsReply(2), nameReply(3, '/home/u'), nameReply(4, '/t'), handleReply(5, 'dh')];
    harness.inspector.fromServer(Buffer.concat(replies));
    const more = [pathRequest(T.READDIR, 9, 'dh'), pathRequest(T.FSTAT, 10, 'dh'), extended(11, 'fsync@openssh.com', str('dh')), close(12, 'dh')];
    harness.inspector.fromClient(Buffer.concat(more));
    await settle();
    harness.inspector.end();
    assert.deepEqual(harness.decisions, []);
    assert.deepEqual(harness.server(), Buffer.concat([...sent, ...more]));
    assert.deepEqual(harness.client(), Buffer.concat(replies));
    assert.deepEqual(harness.files, [], 'directory handles are not files');
  });

  it('refuses FSETSTAT on a handle it never saw, without asking', async () => {
    const harness = session(neverDecide);
    harness.inspector.fromClient(request(T.FSETSTAT, 3, str('forged'), NO_ATTRS));
    await settle();
    assert.deepEqual(harness.server(), Buffer.alloc(0));
    assert.deepEqual(harness.client(), status(3, 4, 'Invalid handle'));
  });

  it('gives the same bytes, decisions and files however the streams are split', async () => {
    const policy = async (request: SftpDecisionRequest): Promise<Verdict> =>
      request.path.startsWith('/deny') || request.targetPath?.startsWith('/deny') ? { allowed: false, message: 'denied by policy' } : ALLOW;
    const client = (...parts: Buffer[]) => ({ from: 'client' as const, bytes: Buffer.concat(parts) });
    const server = (...parts: Buffer[]) => ({ from: 'server' as const, bytes: Buffer.concat(parts) });
    const steps = [
      client(init()),
      server(version()),
      client(open(1, '/up', FXF.WRITE | FXF.CREAT | FXF.TRUNC), pathRequest(T.STAT, 2, '/'), pathRequest(T.REMOVE, 3, '/deny/x')),
      server(handleReply(1, 'H1'), attrsReply(2)),
      client(write(4, 'H1', 0, bytes(40000, 7)), write(5, 'H1', 40000, bytes(10, 8)), twoPaths(T.RENAME, 6, '/up', '/deny/up')),
      server(status(4, 0), status(5, 0)),
      client(close(7, 'H1'), open(8, '/down', FXF.READ), open(13, '/deny/secret', FXF.READ)),
      server(status(7, 0), handleReply(8, 'H2')),
      client(read(9, 'H2', 0, 32768), read(10, 'H2', 32768, 32768)),
      server(dataReply(9, bytes(32768, 9)), dataReply(10, bytes(100, 10))),
      client(opendir(12, '/'), read(14, 'H2', 32868, 32768)),
      server(handleReply(12, 'D1'), status(14, 1, 'EOF')),
    ];

    async function run(split: (chunk: Buffer) => Buffer[], pause: () => boolean = () => false) {
      const harness = new Harness(policy);
      for (const step of steps) {
        for (const piece of split(step.bytes)) {
          if (step.from === 'client') harness.inspector.fromClient(piece);
          else harness.inspector.fromServer(piece);
          if (pause()) await settle();
        }
        await settle();
      }
      harness.inspector.end();
      return { server: summarize(harness.server()), client: summarize(harness.client()), decisions: harness.decisions, files: harness.files };
    }

    const whole = await run((chunk) => [chunk]);
    const refusedIds = new Set([3, 6, 13]);
    const expectedServer = steps
      .filter((step) => step.from === 'client')
      .flatMap((step) => packets(step.bytes))
      .filter((each) => each[4] === T.INIT || !refusedIds.has(each.readUInt32BE(5)));
    assert.deepEqual(whole.server, summarize(Buffer.concat(expectedServer)));
    assert.deepEqual(whole.decisions, [
      { operation: 'open-write', path: '/up' },
      { operation: 'remove', path: '/deny/x' },
      { operation: 'rename', path: '/up', targetPath: '/deny/up' },
      { operation: 'open-read', path: '/down' },
      { operation: 'open-read', path: '/deny/secret' },
    ]);
    assert.deepEqual(whole.files, [
      { path: '/up', mode: 'write', bytesRead: 0, bytesWritten: 40010, closed: true },
      { path: '/down', mode: 'read', bytesRead: 32868, bytesWritten: 0, closed: false },
    ]);
    const serverPackets = steps.filter((step) => step.from === 'server').map((step) => step.bytes);
    const refusals = [status(3, 3, 'denied by policy'), status(6, 3, 'denied by policy'), status(13, 3, 'denied by policy')];
    assert.deepEqual(
      whole.client,
      // Each refusal reaches the client right after the server packets that came before its request.
      summarize(Buffer.concat([serverPackets[0]!, refusals[0]!, serverPackets[1]!, refusals[1]!, serverPackets[2]!, refusals[2]!, ...serverPackets.slice(3)])),
    );

    assert.deepEqual(await run((chunk) => [...chunk].map((byte) => Buffer.from([byte]))), whole, 'one byte at a time');

    for (let seed = 1; seed <= 25; seed++) {
      const random = mulberry32(seed);
      const split = (chunk: Buffer): Buffer[] => {
        const pieces: Buffer[] = [];
        let offset = 0;
        while (offset < chunk.length) {
          // Mostly short pieces, so cuts often land inside length prefixes and headers.
          const length = 1 + Math.floor(random() ** 3 * 3000);
          pieces.push(chunk.subarray(offset, offset + length));
          offset += length;
        }
        return pieces;
      };
      assert.deepEqual(await run(split, () => random() < 0.3), whole, `seed ${seed}`);
    }
  });

  it('throws PACKET_TOO_LARGE on an oversized length, even split inside the prefix, without deciding', () => {
    const harness = session(neverDecide);
    const prefix = u32(MAX_SFTP_PACKET_LENGTH + 1);
    harness.inspector.fromClient(prefix.subarray(0, 3));
    const error = assertProtocolError(() => harness.inspector.fromClient(prefix.subarray(3)), 'PACKET_TOO_LARGE');
    assert.equal(assertProtocolError(() => harness.inspector.fromClient(pathRequest(T.STAT, 1, '/')), 'PACKET_TOO_LARGE'), error);
    assert.equal(assertProtocolError(() => harness.inspector.fromServer(attrsReply(1)), 'PACKET_TOO_LARGE'), error);
    assert.deepEqual(harness.server(), Buffer.alloc(0));
    assert.deepEqual(harness.decisions, []);

    const atLimit = session(neverDecide);
    const largest = Buffer.concat([u32(MAX_SFTP_PACKET_LENGTH), Buffer.from([T.STAT]), u32(1), str(Buffer.alloc(MAX_SFTP_PACKET_LENGTH - 9, 0x61))]);
    atLimit.inspector.fromClient(largest);
    assert.deepEqual(atLimit.server(), largest);

    const fromServer = session(neverDecide);
    assertProtocolError(() => fromServer.inspector.fromServer(u32(0xffffffff)), 'PACKET_TOO_LARGE');
  });

  it('throws MALFORMED_PACKET on truncated payloads without deciding or forwarding', async () => {
    const truncated: [string, Buffer][] = [
      ['empty packet', u32(0)],
      ['no request id', packet(T.REMOVE, Buffer.from([0, 0]))],
      ['path longer than the packet', packet(T.REMOVE, u32(1), u32(100), Buffer.from('/etc'))],
      ['OPEN without pflags', packet(T.OPEN, u32(1), str('/tmp/x'))],
      ['RENAME without newpath', packet(T.RENAME, u32(1), str('/a'))],
      ['WRITE data cut short', packet(T.WRITE, u32(1), str('h'), u64(0), u32(10), Buffer.from('abc'))],
      ['EXTENDED without a name', packet(T.EXTENDED, u32(1))],
      ['posix-rename without paths', extended(1, 'posix-rename@openssh.com')],
    ];
    for (const [label, bytes] of truncated) {
      const harness = session(neverDecide);
      // The bad packet is followed by a good one in the same chunk: that one must not go through either.
      assertProtocolError(() => harness.inspector.fromClient(Buffer.concat([bytes, pathRequest(T.STAT, 2, '/')])), 'MALFORMED_PACKET');
      await settle();
      assert.deepEqual(harness.server(), Buffer.alloc(0), label);
      assert.deepEqual(harness.decisions, [], label);
    }

    const harness = session();
    harness.inspector.fromClient(open(1, '/f', FXF.READ));
    await settle();
    harness.inspector.fromServer(handleReply(1, 'h'));
    harness.inspector.fromClient(read(2, 'h', 0, 10));
    assertProtocolError(() => harness.inspector.fromServer(packet(T.DATA, u32(2), u32(10), Buffer.from('abc'))), 'MALFORMED_PACKET');
  });

  it('rejects streams that could be judged one way and acted on another', async () => {
    const beforeInit = new Harness(neverDecide);
    assertProtocolError(() => beforeInit.inspector.fromClient(pathRequest(T.REMOVE, 1, '/x')), 'UNEXPECTED_PACKET');

    const nul = session(neverDecide);
    assertProtocolError(() => nul.inspector.fromClient(pathRequest(T.REMOVE, 1, '/allowed\x00/../etc/passwd')), 'INVALID_PATH');

    const unknownType = session(neverDecide);
    assertProtocolError(() => unknownType.inspector.fromClient(request(21, 1, str('/a'), str('/b'))), 'UNEXPECTED_PACKET');

    const reused = session(() => new Promise<Verdict>(() => {}));
    reused.inspector.fromClient(open(1, '/a', FXF.READ));
    assertProtocolError(() => reused.inspector.fromClient(open(1, '/b', FXF.WRITE)), 'DUPLICATE_REQUEST_ID');
    assert.equal(reused.decisions.length, 1);

    const serverFirst = new Harness(neverDecide);
    assertProtocolError(() => serverFirst.inspector.fromServer(version()), 'UNEXPECTED_PACKET');
  });

  it('reports files still open at end(), once, and ignores what comes after', async () => {
    const harness = session();
    harness.inspector.fromClient(Buffer.concat([open(1, '/tmp/partial', FXF.WRITE | FXF.CREAT), opendir(2, '/tmp')]));
    await settle();
    harness.inspector.fromServer(Buffer.concat([handleReply(1, 'f'), handleReply(2, 'd')]));
    harness.inspector.fromClient(write(3, 'f', 0, bytes(123, 1)));
    harness.inspector.end();
    harness.inspector.end();
    harness.inspector.fromClient(close(4, 'f'));
    assert.deepEqual(harness.files, [{ path: '/tmp/partial', mode: 'write', bytesRead: 0, bytesWritten: 123, closed: false }]);
  });
});
