/**
 * Builds an evidence bundle for a time window (core/evidence/bundle.ts): the ledger entries of
 * the window as one unbroken index range with an inclusion proof each, against the latest
 * signed checkpoint; the configuration in force when the window opened; approval and grant
 * records; masking counts; the recordings the entries name; the auditor's report; and the
 * manifest of every file's SHA-256, signed with the log key. The bundle is checked with the
 * same offline verifier an auditor runs before it is handed out, and the report says how.
 */
import { BundlePaths, fileDigest, keyFingerprint, manifestNoteText, recordingPath, type EntryProof, type ExportedEntry, type Manifest, type ProvenEntry, BUNDLE_FORMAT } from '../../../core/evidence/bundle.js';
import { verifyBundle, type BundleReport } from '../../../core/evidence/verify-bundle.js';
import { parseCheckpoint } from '../../../core/ledger/checkpoint.js';
import type { LedgerEntry } from '../../../core/ledger/entry.js';
import { openNote, parseVerifierKey, signNote, type NoteSigner } from '../../../core/ledger/signed-note.js';
import { tiledInclusionProof, tileKey, type TileId, type TileReader } from '../../../core/ledger/tiles.js';
import type { ApprovalStore } from '../approval-store.js';
import type { GrantStore } from '../grant-store.js';
import type { IntegratedEntry, LedgerReader } from '../ledger-reader.js';
import { renderReport } from './report.js';

export interface EvidenceSources {
  readonly reader: LedgerReader;
  readonly approvals: ApprovalStore;
  readonly grants: GrantStore;
  /** The log's signing key and its public half. */
  readonly signer: NoteSigner;
  readonly vkey: string;
  /** A recording an entry names, by the path it recorded; undefined when it is gone. */
  readonly readRecording: (path: string) => Promise<Buffer | undefined>;
}

export interface ExportWindow {
  readonly from: Date;
  readonly to: Date;
}

export interface BuiltBundle {
  readonly files: Map<string, Buffer>;
  readonly manifest: Manifest;
  readonly verification: BundleReport;
}

export class EvidenceExportError extends Error {
  override readonly name = 'EvidenceExportError';
}

export async function buildBundle(sources: EvidenceSources, window: ExportWindow, progress: (line: string) => void = () => undefined, now: Date = new Date()): Promise<BuiltBundle> {
  const stored = await sources.reader.latestCheckpoint();
  if (!stored) throw new EvidenceExportError('no checkpoint has been signed yet, so nothing can be proven; run: warden checkpoint');
  const checkpoint = parseCheckpoint(openNote(stored.note, [parseVerifierKey(sources.vkey.trim())]).text);

  progress('reading the ledger…');
  const proven: IntegratedEntry[] = [];
  for await (const entry of sources.reader.entries()) if (entry.index < checkpoint.size) proven.push(entry);
  proven.sort((a, b) => a.index - b.index);
  const parsed = new Map(proven.map((entry) => [entry.index, JSON.parse(entry.entry) as LedgerEntry]));
  const inWindow = (time: string) => time >= window.from.toISOString() && time <= window.to.toISOString();
  const hits = proven.filter((entry) => inWindow(parsed.get(entry.index)!.time));
  // Entries are integrated in about the order they were written, not strictly by time: the bundle
  // takes every index between the first and the last entry of the window, so none is left out.
  const exported = hits.length === 0 ? [] : proven.filter((entry) => entry.index >= hits[0]!.index && entry.index <= hits.at(-1)!.index);
  const entries = exported.map((entry) => parsed.get(entry.index)!);
  const firstIndex = exported[0]?.index ?? null;
  const configInForce = proven.filter((entry) => (firstIndex === null || entry.index < firstIndex) && parsed.get(entry.index)!.type === 'config.snapshot' && parsed.get(entry.index)!.time < window.from.toISOString()).at(-1);

  progress(`proving ${exported.length} entries against the checkpoint of size ${checkpoint.size}…`);
  const tiles = cachingTileReader(sources.reader);
  const proofs: EntryProof[] = [];
  for (const entry of exported) proofs.push({ index: entry.index, proof: (await tiledInclusionProof(tiles, entry.index, checkpoint.size)).map((hash) => hash.toString('hex')) });

  const files = new Map<string, Buffer>();
  const put = (path: string, content: string | Buffer) => files.set(path, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
  put(BundlePaths.checkpoint, stored.note);
  put(BundlePaths.entries, jsonl(exported.map((entry): ExportedEntry => ({ index: entry.index, entry: entry.entry, hash: entry.hash }))));
  put(BundlePaths.proofs, jsonl(proofs));
  if (configInForce) {
    const proof = (await tiledInclusionProof(tiles, configInForce.index, checkpoint.size)).map((hash) => hash.toString('hex'));
    put(BundlePaths.configInForce, `${JSON.stringify({ index: configInForce.index, entry: configInForce.entry, hash: configInForce.hash, proof } satisfies ProvenEntry)}\n`);
  }
  const from = window.from.toISOString();
  const to = window.to.toISOString();
  // A Slack response URL lets its holder post to the channel: it stays out of the bundle.
  const approvals = (await sources.approvals.all()).filter((a) => a.createdAt >= from && a.createdAt <= to).map(({ slackResponseUrl: _url, ...record }) => record);
  const grants = (await sources.grants.all()).filter((g) => g.requestedAt <= to && (g.endedAt ?? g.expiresAt ?? to) >= from);
  put(BundlePaths.approvals, jsonl(approvals));
  put(BundlePaths.grants, jsonl(grants));
  put(BundlePaths.masking, jsonl(maskingLog(entries)));
  put(BundlePaths.fingerprint, `${keyFingerprint(sources.vkey)}\n`);
  for (const recording of recordingsOf(entries)) {
    const bytes = await sources.readRecording(recording);
    if (bytes) put(recordingPath(recording), bytes);
    else progress(`warning: recording ${recording} is missing; the bundle will not verify`);
  }

  const manifest = (): Manifest => ({
    format: BUNDLE_FORMAT,
    origin: checkpoint.origin,
    from,
    to,
    createdAt: now.toISOString(),
    keyFingerprint: keyFingerprint(sources.vkey),
    treeSize: checkpoint.size,
    entries: { count: exported.length, firstIndex, lastIndex: exported.at(-1)?.index ?? null },
    files: [...files].filter(([path]) => path !== BundlePaths.manifest).map(([path, bytes]) => ({ path, sha256: fileDigest(bytes), bytes: bytes.length })).sort((a, b) => a.path.localeCompare(b.path)),
  });
  const sign = async () => {
    const signed = manifest();
    put(BundlePaths.manifest, await signNote(manifestNoteText(signed), [sources.signer]));
    return signed;
  };

  progress('checking the bundle as an auditor would…');
  const beforeReport = await sign();
  const verification = verifyBundle(files, sources.vkey);
  put(
    BundlePaths.report,
    renderReport({ manifest: beforeReport, entries, ...(configInForce ? { configInForce: parsed.get(configInForce.index)! } : {}), approvals, grants, verification }),
  );
  const final = await sign();
  return { files, manifest: final, verification: verifyBundle(files, sources.vkey) };
}

function jsonl(values: readonly unknown[]): string {
  return values.map((value) => `${JSON.stringify(value)}\n`).join('');
}

/** What each command's result says was masked, per rule (counts only, never values). */
function maskingLog(entries: readonly LedgerEntry[]): Record<string, unknown>[] {
  return entries
    .filter((entry) => entry.type === 'command.result' && Object.keys((entry.data.masked as Record<string, number> | undefined) ?? {}).length > 0)
    .map((entry) => ({ entry: entry.id, session: entry.session, commandId: entry.data.commandId, connection: entry.connection, time: entry.time, masked: entry.data.masked }));
}

function recordingsOf(entries: readonly LedgerEntry[]): string[] {
  return [...new Set(entries.flatMap((entry) => {
    const path = (entry.data.recording as { path?: unknown } | undefined)?.path;
    return typeof path === 'string' ? [path] : [];
  }))];
}

/** Each tile is read from the store once however many proofs pass through it (all proofs are at one tree size). */
function cachingTileReader(reader: TileReader): TileReader {
  const cache = new Map<string, Buffer[]>();
  return {
    readTiles: async (ids: readonly TileId[], treeSize: number) => {
      const missing = ids.filter((id) => !cache.has(tileKey(id)));
      if (missing.length > 0) (await reader.readTiles(missing, treeSize)).forEach((hashes, i) => cache.set(tileKey(missing[i]!), hashes));
      return ids.map((id) => cache.get(tileKey(id))!);
    },
  };
}
