/** Ways of cutting one byte stream into the chunks a socket might deliver. */
export interface Chunking {
  label: string;
  chunks: Buffer[];
}

/**
 * The stream whole, cut in two at every offset, and byte by byte. Each chunk is a copy, so a
 * parser cannot get away with views of one shared buffer.
 */
export function everyChunking(stream: Buffer): Chunking[] {
  const chunkings: Chunking[] = [{ label: 'whole', chunks: [Buffer.from(stream)] }];
  for (let offset = 1; offset < stream.length; offset++) {
    chunkings.push({
      label: `split at ${offset}`,
      chunks: [Buffer.from(stream.subarray(0, offset)), Buffer.from(stream.subarray(offset))],
    });
  }
  const bytes: Buffer[] = [];
  for (let offset = 0; offset < stream.length; offset++) {
    bytes.push(Buffer.from(stream.subarray(offset, offset + 1)));
  }
  chunkings.push({ label: 'byte by byte', chunks: bytes });
  return chunkings;
}
