/**
 * The block index of an adaptive rootfs-image artifact. It lives in the payload's meta-data
 * under ADAPTIVE_KEY: meta-data is part of the header, so the manifest's checksum of the
 * header (and with it the signature) covers it, and both mender-artifact 3.9 and the Mender
 * 3.4 client accept any JSON object there and ignore it for rootfs-image.
 *
 * The data member `data/0000.tar[.gz]` is laid out so that its pieces can be fetched by
 * byte range and decompressed on their own, while a standard decoder reads it as one stream:
 *
 *   none:  the plain tar: a 512-byte header, the image, padding, the end of the archive
 *   gzip:  gzip members, each compressing one part of the same tar, which any gzip reader
 *          reads as one stream: [tar header] [piece 0] ... [padding and end of the archive]
 *
 * Piece i holds image bytes [i * piece_size, (i + 1) * piece_size) and lies in the data
 * member's body at `lead + lengths[0] + ... + lengths[i - 1]` (none: at 512 + i * piece_size,
 * pieces being blocks). Offsets are relative to the data member because the header, which
 * holds the index, comes before it: its length is known only once the index is written.
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import { fail } from "../errors.ts";

export const ADAPTIVE_KEY = "ota.adaptive";
export const ADAPTIVE_VERSION = 1;
export const HASH_BYTES = 32;

/**
 * zstd frames would do as well for Bun and the zstd tool, but Deno's node:zlib decoder stops
 * after the first frame that does not fill its output buffer (and Mender 3.4 reads no zstd).
 */
export const adaptiveCompressions = ["none", "gzip"] as const;
export type AdaptiveCompression = typeof adaptiveCompressions[number];

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

/** The index as it is written into meta-data (JSON). */
export const adaptiveIndexSchema = z.strictObject({
  version: z.literal(ADAPTIVE_VERSION),
  /** The payload file the index describes (its manifest line holds the image's sha256). */
  file: z.string().min(1).max(255),
  /** Bytes of the image. */
  size: count,
  compression: z.enum(adaptiveCompressions),
  /** Bytes hashed per block (SHA-256); a power of two from 512 to 1 MiB. */
  block_size: z.number().int().min(512).max(1 << 20),
  /** Image bytes per independently compressed piece: a multiple of block_size. */
  piece_size: z.number().int().min(512).max(1 << 24),
  /** Bytes of the data member's body. */
  data_size: count,
  /** Bytes of the data member before the first piece (the inner tar header, compressed). */
  lead: count,
  /** Compressed length of each piece, little-endian uint32s (compressed payloads only). */
  pieces: base64.optional(),
  /** SHA-256 of each block, concatenated. */
  hashes: base64,
});
export type AdaptiveIndexJson = z.infer<typeof adaptiveIndexSchema>;

/** A checked index, decoded. */
export interface AdaptiveIndex {
  file: string;
  size: number;
  compression: AdaptiveCompression;
  blockSize: number;
  pieceSize: number;
  dataSize: number;
  /** Where each piece starts in the data member's body; one more entry: where the tail starts. */
  pieceOffsets: number[];
  hashes: Uint8Array;
}

export function blockCount(index: Pick<AdaptiveIndex, "size" | "blockSize">): number {
  return Math.ceil(index.size / index.blockSize);
}

export function pieceCount(index: Pick<AdaptiveIndex, "size" | "pieceSize">): number {
  return Math.ceil(index.size / index.pieceSize);
}

/** The SHA-256 of block `i`, as the index holds it. */
export function blockHash(index: AdaptiveIndex, i: number): Uint8Array {
  return index.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
}

/** Image bytes `[start, end)` of piece `i`. */
export function pieceSpan(index: AdaptiveIndex, i: number): { start: number; end: number } {
  const start = i * index.pieceSize;
  return { start, end: Math.min(index.size, start + index.pieceSize) };
}

/** The bytes of the tar around the image after it: padding to 512, then two zero blocks. */
export function tailLength(size: number): number {
  return (512 - (size % 512)) % 512 + 1024;
}

function invalid(message: string): never {
  fail("ADAPTIVE_INDEX_INVALID", `the adaptive index ${message}`);
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * The index from a payload's (verified) meta-data; undefined when it has none. An index
 * that is there but does not add up is refused: it is signed, so it is the writer's error.
 */
export function readAdaptiveIndex(
  metaData: Record<string, unknown> | undefined,
): AdaptiveIndex | undefined {
  const raw = metaData?.[ADAPTIVE_KEY];
  if (raw === undefined) return undefined;
  const parsed = adaptiveIndexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!; // a failed parse has at least one issue
    invalid(`is malformed (${issue.path.join(".") || "the object"}: ${issue.message})`);
  }
  const json = parsed.data;
  if (!isPowerOfTwo(json.block_size)) invalid(`has a block size of ${json.block_size}`);
  const pieceSize = json.compression === "none" ? json.block_size : json.piece_size;
  if (pieceSize % json.block_size) invalid("has pieces that are not whole blocks");
  const hashes = new Uint8Array(Buffer.from(json.hashes, "base64"));
  const blocks = Math.ceil(json.size / json.block_size);
  if (hashes.byteLength !== blocks * HASH_BYTES) {
    invalid(`holds ${hashes.byteLength / HASH_BYTES} block hashes for ${blocks} blocks`);
  }
  const index: AdaptiveIndex = {
    file: json.file,
    size: json.size,
    compression: json.compression,
    blockSize: json.block_size,
    pieceSize,
    dataSize: json.data_size,
    pieceOffsets: [],
    hashes,
  };
  index.pieceOffsets = offsets(json, index);
  const tail = json.data_size - index.pieceOffsets.at(-1)!; // offsets() returns at least one
  if (json.compression === "none" ? tail < tailLength(json.size) : tail <= 0) {
    invalid(`says the data member is ${json.data_size} bytes, too short for its pieces`);
  }
  return index;
}

function offsets(json: AdaptiveIndexJson, index: AdaptiveIndex): number[] {
  const pieces = pieceCount(index);
  if (json.compression === "none") {
    if (json.lead !== 512 || json.pieces !== undefined) invalid("does not fit an uncompressed tar");
    return Array.from(
      { length: pieces + 1 },
      (_, i) => 512 + Math.min(i * index.pieceSize, json.size),
    );
  }
  if (json.pieces === undefined) invalid("has no piece lengths");
  const lengths = Buffer.from(json.pieces, "base64");
  if (lengths.byteLength !== pieces * 4) {
    invalid(`holds ${lengths.byteLength / 4} piece lengths for ${pieces} pieces`);
  }
  if (json.lead === 0) invalid("has no lead");
  const result = [json.lead];
  for (let i = 0; i < pieces; i++) {
    const length = lengths.readUInt32LE(i * 4);
    if (length === 0) invalid(`has an empty piece ${i}`);
    result.push(result[i]! + length); // result holds i + 1 entries here
  }
  return result;
}

/** The index as JSON for meta-data, from what the writer measured. */
export function adaptiveIndexJson(
  index: Omit<AdaptiveIndex, "pieceOffsets"> & { lead: number; lengths?: number[] },
): AdaptiveIndexJson {
  let pieces: string | undefined;
  if (index.lengths) {
    const bytes = Buffer.alloc(index.lengths.length * 4);
    index.lengths.forEach((length, i) => bytes.writeUInt32LE(length, i * 4));
    pieces = bytes.toString("base64");
  }
  return {
    version: ADAPTIVE_VERSION,
    file: index.file,
    size: index.size,
    compression: index.compression,
    block_size: index.blockSize,
    piece_size: index.pieceSize,
    data_size: index.dataSize,
    lead: index.lead,
    ...(pieces !== undefined ? { pieces } : {}),
    hashes: Buffer.from(index.hashes).toString("base64"),
  };
}
