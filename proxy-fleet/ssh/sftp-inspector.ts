/**
 * Policy and accounting for an `sftp` subsystem passed through byte for byte: SFTP version 3,
 * draft-ietf-secsh-filexfer-02 ("the draft" below), plus OpenSSH's extensions.
 *
 * Client packets are handled strictly in order. One that changes the file system (or opens a
 * file) waits for `decide()`, and every later client packet waits behind it; when refused it
 * never reaches the server and the client gets SSH_FX_PERMISSION_DENIED for it instead. Server
 * packets are never held for a decision. Both directions are forwarded only as whole packets, so
 * a STATUS the inspector writes to the client always falls between two server packets.
 *
 * The inspector is strict where being lenient would let a request slip past policy: the server
 * must answer VERSION 3 before any request is released, request ids may not be reused while
 * outstanding, and paths may not contain NUL. A broken stream throws SftpProtocolError; once
 * fromClient or fromServer has thrown, every later call throws the same error.
 */

export type SftpOperation =
  | 'open-read'
  | 'open-write'
  | 'remove'
  | 'rename'
  | 'mkdir'
  | 'rmdir'
  | 'setstat'
  | 'symlink'
  | 'hardlink'
  | `extended:${string}`;

/**
 * `path` is the name the operation acts on: the file opened, removed or changed, the old name of
 * a rename, the link created by symlink and hardlink, or '' for an unknown extension.
 * `targetPath` is the new name of a rename, or what a link points to.
 */
export interface SftpDecisionRequest {
  operation: SftpOperation;
  path: string;
  targetPath?: string;
}

export interface SftpFileRecord {
  path: string;
  mode: 'read' | 'write' | 'read-write';
  bytesRead: number;
  bytesWritten: number;
  closed: boolean;
}

export interface SftpInspectorOptions {
  /**
   * Called for each operation that needs a decision, in order, one at a time; resolve
   * `{ allowed: true }` to forward, `{ allowed: false, message }` to refuse. A rejected promise
   * refuses too (fail closed).
   */
  decide(request: SftpDecisionRequest): Promise<{ allowed: true } | { allowed: false; message: string }>;
  /** Client→server bytes: whole packets, unchanged, possibly several in one buffer. */
  toServer(bytes: Buffer): void;
  /** Server→client bytes (whole packets, unchanged) and the STATUS replies for refused requests. */
  toClient(bytes: Buffer): void;
  /** A file handle was closed, or the stream ended with it still open (`closed: false`). */
  onFile(record: SftpFileRecord): void;
}

export type SftpProtocolErrorCode =
  | 'PACKET_TOO_LARGE'
  | 'MALFORMED_PACKET'
  | 'UNEXPECTED_PACKET'
  | 'UNSUPPORTED_VERSION'
  | 'DUPLICATE_REQUEST_ID'
  | 'INVALID_PATH';

/** The peer broke SFTP framing or layout: the channel can no longer be trusted and should be closed. */
export class SftpProtocolError extends Error {
  override readonly name = 'SftpProtocolError';
  constructor(
    readonly code: SftpProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Largest accepted value of a packet's length field: OpenSSH's 256 KiB message limit plus room for headers. */
export const MAX_SFTP_PACKET_LENGTH = 256 * 1024 + 1024;

const SFTP_VERSION = 3;

const FXP_INIT = 1;
const FXP_VERSION = 2;
const FXP_OPEN = 3;
const FXP_CLOSE = 4;
const FXP_READ = 5;
const FXP_WRITE = 6;
const FXP_LSTAT = 7;
const FXP_FSTAT = 8;
const FXP_SETSTAT = 9;
const FXP_FSETSTAT = 10;
const FXP_OPENDIR = 11;
const FXP_READDIR = 12;
const FXP_REMOVE = 13;
const FXP_MKDIR = 14;
const FXP_RMDIR = 15;
const FXP_REALPATH = 16;
const FXP_STAT = 17;
const FXP_RENAME = 18;
const FXP_READLINK = 19;
const FXP_SYMLINK = 20;
const FXP_STATUS = 101;
const FXP_HANDLE = 102;
const FXP_DATA = 103;
const FXP_NAME = 104;
const FXP_ATTRS = 105;
const FXP_EXTENDED = 200;
const FXP_EXTENDED_REPLY = 201;

const FXF_READ = 0x1;

const FX_FAILURE = 4;
const FX_PERMISSION_DENIED = 3;

const DECISION_FAILED_MESSAGE = 'Permission denied: the operation could not be decided';

type FileMode = SftpFileRecord['mode'];

type ClientRequest =
  | { kind: 'init' }
  | { kind: 'pass' }
  | { kind: 'decide'; decision: SftpDecisionRequest }
  /** OPEN (mode set, decided) or OPENDIR (mode null, not decided). */
  | { kind: 'open'; path: string; mode: FileMode | null }
  | { kind: 'close'; handle: string }
  | { kind: 'read'; handle: string }
  | { kind: 'write'; handle: string; length: number }
  | { kind: 'fsetstat'; handle: string };

/** A request the server has not answered yet (or that has not been forwarded yet). */
interface Outstanding {
  forwarded: boolean;
  open: { path: string; mode: FileMode | null } | null;
  read: SftpFileRecord | null;
}

interface ClientPacket {
  bytes: Buffer;
  id: number;
  request: ClientRequest;
  /** Null only for INIT, which has no request id. */
  entry: Outstanding | null;
}

/** An open handle; `file` is null for directories. */
interface HandleState {
  path: string;
  file: SftpFileRecord | null;
}

const PASS: ClientRequest = { kind: 'pass' };
const INIT: ClientRequest = { kind: 'init' };

export class SftpInspector {
  private readonly options: SftpInspectorOptions;
  private readonly clientFramer = new PacketFramer('client');
  private readonly serverFramer = new PacketFramer('server');
  private readonly toServerOut = new Outbox();
  private readonly toClientOut = new Outbox();

  private queue: (ClientPacket | undefined)[] = [];
  private head = 0;
  private heldBytes = 0;
  private deciding = false;

  private initSeen = false;
  private versionSeen = false;
  private failure: unknown = null;
  private ended = false;

  private readonly outstanding = new Map<number, Outstanding>();
  /** Keyed by the handle's bytes as latin1, which maps bytes to a string one to one. */
  private readonly handles = new Map<string, HandleState>();

  constructor(options: SftpInspectorOptions) {
    this.options = options;
  }

  /** Client bytes parsed but held back behind a pending decision (or the server's VERSION): for backpressure. */
  get heldClientBytes(): number {
    return this.heldBytes;
  }

  fromClient(chunk: Buffer): void {
    if (this.failure !== null) throw this.failure;
    if (this.ended) return;
    try {
      this.clientFramer.push(chunk, (bytes) => this.enqueue(this.parseClient(bytes)));
      this.pump();
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  fromServer(chunk: Buffer): void {
    if (this.failure !== null) throw this.failure;
    if (this.ended) return;
    try {
      const versionWasSeen = this.versionSeen;
      this.serverFramer.push(chunk, (bytes) => {
        this.inspectServer(bytes);
        this.toClientOut.push(bytes);
      });
      this.toClientOut.flush((bytes) => this.options.toClient(bytes));
      // Requests held until the server's VERSION go after it has reached the client.
      if (!versionWasSeen && this.versionSeen) this.pump();
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  /** Reports files still open (closed: false). Later input is ignored and pending decisions are dropped. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.head = 0;
    this.heldBytes = 0;
    this.outstanding.clear();
    const open = [...this.handles.values()];
    this.handles.clear();
    for (const handle of open) if (handle.file) this.report(handle.file, false);
  }

  private enqueue(packet: ClientPacket): void {
    this.queue.push(packet);
    this.heldBytes += packet.bytes.length;
  }

  /** Forwards queued client packets until one needs a decision or the server's VERSION is still awaited. */
  private pump(): void {
    while (!this.deciding && this.head < this.queue.length) {
      const packet = this.queue[this.head]!;
      // Draft section 4: versions are agreed by INIT and VERSION; no request is judged before
      // the server has said it speaks version 3, or the inspector could misread it.
      if (!this.versionSeen && packet.request.kind !== 'init') break;
      this.queue[this.head] = undefined;
      this.head += 1;
      this.heldBytes -= packet.bytes.length;
      const request = packet.request;
      let decision: SftpDecisionRequest | null = null;
      if (request.kind === 'decide') {
        decision = request.decision;
      } else if (request.kind === 'open' && request.mode !== null) {
        decision = { operation: request.mode === 'read' ? 'open-read' : 'open-write', path: request.path };
      } else if (request.kind === 'fsetstat') {
        const handle = this.handles.get(request.handle);
        if (!handle) {
          // Every real handle came through here, so the server would refuse this one too.
          this.refuse(packet.id, FX_FAILURE, 'Invalid handle');
          continue;
        }
        decision = { operation: 'setstat', path: handle.path };
      }
      if (decision) this.awaitDecision(packet, decision);
      else this.forward(packet);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.flush();
  }

  private awaitDecision(packet: ClientPacket, request: SftpDecisionRequest): void {
    this.deciding = true;
    this.flush();
    let verdict: Promise<string | null>;
    try {
      verdict = Promise.resolve(this.options.decide(request)).then((result) =>
        result.allowed === true ? null : typeof result.message === 'string' ? result.message : DECISION_FAILED_MESSAGE,
      );
    } catch {
      verdict = Promise.resolve(DECISION_FAILED_MESSAGE);
    }
    void verdict.catch(() => DECISION_FAILED_MESSAGE).then((refusal) => this.settle(packet, refusal));
  }

  private settle(packet: ClientPacket, refusal: string | null): void {
    if (this.failure !== null || this.ended) return;
    this.deciding = false;
    try {
      if (refusal === null) this.forward(packet);
      else this.refuse(packet.id, FX_PERMISSION_DENIED, refusal);
      this.pump();
    } catch (error) {
      // Nobody awaits this: keep the error for the next fromClient/fromServer to throw.
      this.fail(error);
    }
  }

  private forward(packet: ClientPacket): void {
    const { request, entry } = packet;
    if (entry) entry.forwarded = true;
    switch (request.kind) {
      case 'close': {
        // Draft section 6.3: the handle is invalid as soon as CLOSE is sent.
        const handle = this.handles.get(request.handle);
        if (handle) {
          this.handles.delete(request.handle);
          if (handle.file) this.report(handle.file, true);
        }
        break;
      }
      case 'read': {
        const file = this.handles.get(request.handle)?.file;
        if (file && entry) entry.read = file;
        break;
      }
      case 'write': {
        const file = this.handles.get(request.handle)?.file;
        if (file) file.bytesWritten += request.length;
        break;
      }
      default:
        break;
    }
    this.toServerOut.push(packet.bytes);
  }

  private refuse(id: number, code: number, message: string): void {
    this.outstanding.delete(id);
    this.toClientOut.push(encodeStatus(id, code, message));
  }

  private flush(): void {
    this.toServerOut.flush((bytes) => this.options.toServer(bytes));
    this.toClientOut.flush((bytes) => this.options.toClient(bytes));
  }

  private fail(error: unknown): void {
    if (this.failure === null) this.failure = error;
    this.queue = [];
    this.head = 0;
    this.heldBytes = 0;
  }

  private report(file: SftpFileRecord, closed: boolean): void {
    this.options.onFile({ ...file, closed });
  }

  private parseClient(bytes: Buffer): ClientPacket {
    const type = bytes[4]!;
    const reader = new PayloadReader(bytes);
    if (!this.initSeen) {
      if (type !== FXP_INIT) throw new SftpProtocolError('UNEXPECTED_PACKET', `the client sent packet type ${type} before INIT`);
      reader.uint32();
      this.initSeen = true;
      return { bytes, id: -1, request: INIT, entry: null };
    }
    if (type === FXP_INIT) throw new SftpProtocolError('UNEXPECTED_PACKET', 'the client sent INIT twice');
    // Draft section 6: every request after INIT starts with its id.
    const id = reader.uint32();
    const request = parseRequest(type, reader);
    if (this.outstanding.has(id)) {
      // Replies are matched to requests by id alone (draft section 6.1 lets them come in any
      // order), so a reused id could pair a handle with the wrong file.
      throw new SftpProtocolError('DUPLICATE_REQUEST_ID', `the client reused request id ${id} before its reply`);
    }
    const entry: Outstanding = {
      forwarded: false,
      open: request.kind === 'open' ? { path: request.path, mode: request.mode } : null,
      read: null,
    };
    this.outstanding.set(id, entry);
    return { bytes, id, request, entry };
  }

  private inspectServer(bytes: Buffer): void {
    const type = bytes[4]!;
    const reader = new PayloadReader(bytes);
    if (!this.versionSeen) {
      if (type !== FXP_VERSION || !this.initSeen) {
        throw new SftpProtocolError('UNEXPECTED_PACKET', `the server sent packet type ${type} before VERSION`);
      }
      const version = reader.uint32();
      if (version !== SFTP_VERSION) {
        throw new SftpProtocolError('UNSUPPORTED_VERSION', `the server chose SFTP version ${version}; only version ${SFTP_VERSION} can be inspected`);
      }
      this.versionSeen = true;
      return;
    }
    switch (type) {
      case FXP_VERSION:
        throw new SftpProtocolError('UNEXPECTED_PACKET', 'the server sent VERSION twice');
      case FXP_STATUS:
      case FXP_HANDLE:
      case FXP_DATA:
      case FXP_NAME:
      case FXP_ATTRS:
      case FXP_EXTENDED_REPLY: {
        const id = reader.uint32();
        const entry = this.outstanding.get(id);
        // A reply to nothing we forwarded binds nothing: the client will not use it either.
        if (!entry?.forwarded) return;
        this.outstanding.delete(id);
        if (type === FXP_HANDLE && entry.open) this.bind(reader.string(), entry.open.path, entry.open.mode);
        else if (type === FXP_DATA && entry.read) entry.read.bytesRead += reader.string().length;
        return;
      }
      default:
        return;
    }
  }

  private bind(handleBytes: Buffer, path: string, mode: FileMode | null): void {
    const key = handleBytes.toString('latin1');
    const previous = this.handles.get(key);
    if (previous?.file) this.report(previous.file, false);
    const file: SftpFileRecord | null = mode === null ? null : { path, mode, bytesRead: 0, bytesWritten: 0, closed: false };
    this.handles.set(key, { path, file });
  }
}

function parseRequest(type: number, reader: PayloadReader): ClientRequest {
  switch (type) {
    case FXP_OPEN: {
      const path = reader.path();
      const pflags = reader.uint32();
      // OpenSSH maps CREAT, TRUNC and the rest onto open(2) even without WRITE, and O_RDONLY
      // with O_TRUNC or O_CREAT still changes the file system: every flag but READ is a write.
      const writes = (pflags & ~FXF_READ) !== 0;
      const reads = (pflags & FXF_READ) !== 0;
      return { kind: 'open', path, mode: writes ? (reads ? 'read-write' : 'write') : 'read' };
    }
    case FXP_OPENDIR:
      return { kind: 'open', path: reader.path(), mode: null };
    case FXP_CLOSE:
      return { kind: 'close', handle: reader.handle() };
    case FXP_READ: {
      const handle = reader.handle();
      reader.skip(8 + 4);
      return { kind: 'read', handle };
    }
    case FXP_WRITE: {
      const handle = reader.handle();
      reader.skip(8);
      return { kind: 'write', handle, length: reader.string().length };
    }
    case FXP_FSETSTAT:
      return { kind: 'fsetstat', handle: reader.handle() };
    case FXP_SETSTAT:
      return needsDecision('setstat', reader.path());
    case FXP_REMOVE:
      return needsDecision('remove', reader.path());
    case FXP_MKDIR:
      return needsDecision('mkdir', reader.path());
    case FXP_RMDIR:
      return needsDecision('rmdir', reader.path());
    case FXP_RENAME: {
      const oldPath = reader.path();
      return needsDecision('rename', oldPath, reader.path());
    }
    case FXP_SYMLINK: {
      // Draft section 6.10 orders linkpath, targetpath, but OpenSSH's sftp-server (and so every
      // client that talks to it) sends targetpath first: OpenSSH PROTOCOL section 4.1.
      const targetPath = reader.path();
      return needsDecision('symlink', reader.path(), targetPath);
    }
    case FXP_LSTAT:
    case FXP_FSTAT:
    case FXP_READDIR:
    case FXP_REALPATH:
    case FXP_STAT:
    case FXP_READLINK:
      return PASS;
    case FXP_EXTENDED:
      return parseExtended(reader);
    default:
      throw new SftpProtocolError('UNEXPECTED_PACKET', `the client sent packet type ${type}, which is not an SFTP v3 request`);
  }
}

function parseExtended(reader: PayloadReader): ClientRequest {
  const name = reader.string().toString('utf8');
  switch (name) {
    case 'posix-rename@openssh.com': {
      const oldPath = reader.path();
      return needsDecision('rename', oldPath, reader.path());
    }
    case 'hardlink@openssh.com': {
      // link(oldpath, newpath): the new name is what gets created.
      const oldPath = reader.path();
      return needsDecision('hardlink', reader.path(), oldPath);
    }
    case 'lsetstat@openssh.com':
      // SETSTAT that does not follow symlinks: it changes attributes all the same.
      return needsDecision('setstat', reader.path());
    case 'fsync@openssh.com':
    case 'statvfs@openssh.com':
    case 'fstatvfs@openssh.com':
    case 'limits@openssh.com':
    case 'expand-path@openssh.com':
    // Copies between two handles that were both decided when opened.
    case 'copy-data':
      return PASS;
    default:
      return { kind: 'decide', decision: { operation: `extended:${name}`, path: '' } };
  }
}

function needsDecision(operation: SftpOperation, path: string, targetPath?: string): ClientRequest {
  return { kind: 'decide', decision: targetPath === undefined ? { operation, path } : { operation, path, targetPath } };
}

/** SSH_FXP_STATUS (draft section 7): id, code, message, language tag. */
function encodeStatus(id: number, code: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const length = 1 + 4 + 4 + 4 + text.length + 4;
  const packet = Buffer.alloc(4 + length);
  let offset = packet.writeUInt32BE(length, 0);
  offset = packet.writeUInt8(FXP_STATUS, offset);
  offset = packet.writeUInt32BE(id, offset);
  offset = packet.writeUInt32BE(code, offset);
  offset = packet.writeUInt32BE(text.length, offset);
  offset += text.copy(packet, offset);
  packet.writeUInt32BE(0, offset);
  return packet;
}

/** Reads the fields of one whole packet, after its length and type. */
class PayloadReader {
  private offset = 5;
  constructor(private readonly packet: Buffer) {}

  uint32(): number {
    this.need(4);
    const value = this.packet.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  skip(bytes: number): void {
    this.need(bytes);
    this.offset += bytes;
  }

  /** A `string` (draft section 3): uint32 length and that many bytes, as a view. */
  string(): Buffer {
    const length = this.uint32();
    this.need(length);
    const value = this.packet.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  handle(): string {
    return this.string().toString('latin1');
  }

  /**
   * A file name. Servers pass names to the C library, where a NUL ends them: "/a\0/b" would be
   * judged as one path and acted on as another, so it is refused outright. Bytes that are not
   * UTF-8 become U+FFFD for policy.
   */
  path(): string {
    const bytes = this.string();
    if (bytes.includes(0)) throw new SftpProtocolError('INVALID_PATH', 'a path contains a NUL byte');
    return bytes.toString('utf8');
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.packet.length) {
      throw new SftpProtocolError('MALFORMED_PACKET', `packet type ${this.packet[4]} ends before its fields do`);
    }
  }
}

/**
 * Cuts a stream into whole packets (length prefix included). A packet inside one chunk is
 * passed on as a view of it; one that straddles chunks is copied once into a buffer of its own,
 * so no chunk is ever joined with the backlog. The length is checked before anything is
 * buffered.
 */
class PacketFramer {
  private readonly prefix = Buffer.alloc(4);
  private prefixFilled = 0;
  private partial: Buffer | null = null;
  private partialFilled = 0;

  constructor(private readonly peer: 'client' | 'server') {}

  push(chunk: Buffer, onPacket: (packet: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.partial) {
        const copied = chunk.copy(this.partial, this.partialFilled, offset);
        this.partialFilled += copied;
        offset += copied;
        if (this.partialFilled < this.partial.length) return;
        const packet = this.partial;
        this.partial = null;
        onPacket(packet);
      } else if (this.prefixFilled === 0 && chunk.length - offset >= 4) {
        const end = offset + 4 + this.checkLength(chunk.readUInt32BE(offset));
        if (end <= chunk.length) {
          onPacket(chunk.subarray(offset, end));
          offset = end;
        } else {
          this.partial = Buffer.allocUnsafe(end - offset);
          this.partialFilled = chunk.copy(this.partial, 0, offset);
          return;
        }
      } else {
        const copied = chunk.copy(this.prefix, this.prefixFilled, offset, offset + 4 - this.prefixFilled);
        this.prefixFilled += copied;
        offset += copied;
        if (this.prefixFilled < 4) return;
        this.prefixFilled = 0;
        this.partial = Buffer.allocUnsafe(4 + this.checkLength(this.prefix.readUInt32BE(0)));
        this.partialFilled = this.prefix.copy(this.partial, 0);
      }
    }
  }

  private checkLength(length: number): number {
    if (length > MAX_SFTP_PACKET_LENGTH) {
      throw new SftpProtocolError('PACKET_TOO_LARGE', `the ${this.peer} sent a ${length}-byte packet; the limit is ${MAX_SFTP_PACKET_LENGTH}`);
    }
    // Draft section 3: the length counts at least the type byte.
    if (length === 0) throw new SftpProtocolError('MALFORMED_PACKET', `the ${this.peer} sent a packet without a type`);
    return length;
  }
}

/**
 * Packets waiting to be written in one go. A packet that starts where the previous one ended in
 * memory (the usual case: both were views of one chunk) is merged into it, so a chunk of small
 * packets is written as one buffer rather than one write per packet.
 */
class Outbox {
  private parts: Buffer[] = [];

  push(bytes: Buffer): void {
    const last = this.parts.length > 0 ? this.parts[this.parts.length - 1]! : undefined;
    if (last && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    } else {
      this.parts.push(bytes);
    }
  }

  flush(sink: (bytes: Buffer) => void): void {
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    for (const part of parts) sink(part);
  }
}
