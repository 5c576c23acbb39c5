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
 *
 * Version 2 marks whole blocks of zeros in a bitmap and holds, for every other block, the
 * first 16 bytes of its SHA-256 (version 1: the whole SHA-256 of every block). Decoded, both
 * are the same structure: the bitmap and the hashes of the blocks that are not zeros.
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import { fail } from "../errors.ts";
import { digest } from "./block_hash.ts";

export const ADAPTIVE_KEY = "ota.adaptive";
/** The version written. */
export const ADAPTIVE_VERSION = 2;
/** Bytes of SHA-256 kept per block in version 2. */
export const HASH_BYTES = 16;
/**
 * Blocks and pieces an index may describe: what a device allocates per block (a bit) and per
 * piece (8 bytes) stays bounded whatever the signed header says. 8 Mi blocks are 32 GiB of
 * 4 KiB blocks; the writer takes larger blocks beyond.
 */
export const MAX_BLOCKS = 1 << 23;
/** Bytes of meta-data an index may take: readers take a header of 16 MiB, less the rest of it. */
export const MAX_INDEX_BYTES = 15 * 1024 * 1024;
export const MAX_PIECES = 1 << 20;

/**
 * zstd frames would do as well for Bun and the zstd tool, but Deno's node:zlib decoder stops
 * after the first frame that does not fill its output buffer (and Mender 3.4 reads no zstd).
 */
export const adaptiveCompressions = ["none", "gzip"] as const;
export type AdaptiveCompression = typeof adaptiveCompressions[number];

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const common = {
  /** The payload file the index describes (its manifest line holds the image's sha256). */
  file: z.string().min(1).max(255),
  /** Bytes of the image. */
  size: count,
  compression: z.enum(adaptiveCompressions),
  /** Bytes hashed per block; a power of two from 512 to 1 MiB. */
  block_size: z.number().int().min(512).max(1 << 20),
  /** Image bytes per independently compressed piece: a multiple of block_size. */
  piece_size: z.number().int().min(512).max(1 << 24),
  /** Bytes of the data member's body. */
  data_size: count,
  /** Bytes of the data member before the first piece (the inner tar header, compressed). */
  lead: count,
  /** Compressed length of each piece, little-endian uint32s (compressed payloads only). */
  pieces: base64.optional(),
};

/** The index as it is written into meta-data (JSON). */
export const adaptiveIndexSchema = z.strictObject({
  version: z.literal(2),
  ...common,
  /** A bit per block, set for a whole block of zeros: bit i % 8 of byte i >> 3. */
  zeros: base64,
  /** The first HASH_BYTES of the SHA-256 of each block not marked as zeros, concatenated. */
  hashes: base64,
});
export type AdaptiveIndexJson = z.infer<typeof adaptiveIndexSchema>;

/** Version 1, as ota wrote it before: the whole SHA-256 of every block. */
const version1Schema = z.strictObject({ version: z.literal(1), ...common, hashes: base64 });

/** Where the image and its pieces lie: what the writer measures and the device decodes. */
export interface IndexLayout {
  file: string;
  size: number;
  compression: AdaptiveCompression;
  blockSize: number;
  pieceSize: number;
  dataSize: number;
  lead: number;
}

/** A checked index, decoded. */
export interface AdaptiveIndex extends IndexLayout {
  /** Bytes of each block's hash: 16 (version 2), 32 (version 1). */
  hashBytes: number;
  /** Whole blocks of zeros, a bit per block. */
  zeros: Uint8Array;
  /** The hash of each block that is not zeros, in order ("hashed blocks"). */
  hashes: Uint8Array;
  /** Per 32 blocks: the hashed blocks before them. */
  ranks: Uint32Array;
  /** gzip: where each piece starts in the data member's body, and after it where the tail does. */
  offsets?: Float64Array;
}

export function blockCount(index: Pick<AdaptiveIndex, "size" | "blockSize">): number {
  return Math.ceil(index.size / index.blockSize);
}

export function pieceCount(index: Pick<AdaptiveIndex, "size" | "pieceSize">): number {
  return Math.ceil(index.size / index.pieceSize);
}

/** Blocks that have a hash (are not zeros). */
export function hashedCount(index: AdaptiveIndex): number {
  return index.hashes.byteLength / index.hashBytes;
}

export function isZeroBlock(index: AdaptiveIndex, i: number): boolean {
  return (index.zeros[i >>> 3]! & (1 << (i & 7))) !== 0;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v; v &= v - 1) n++;
  return n;
});

/** Hashed blocks before block `i`: where its hash is, when it has one. */
export function hashOrdinal(index: AdaptiveIndex, i: number): number {
  const word = i >>> 5;
  let zeros = POPCOUNT[index.zeros[i >>> 3]! & ((1 << (i & 7)) - 1)]!;
  for (let b = word * 4; b < i >>> 3; b++) zeros += POPCOUNT[index.zeros[b]!]!;
  return index.ranks[word]! + (i & 31) - zeros;
}

/** The hash of block `i` as the index holds it; undefined for a block of zeros. */
export function blockHash(index: AdaptiveIndex, i: number): Uint8Array | undefined {
  if (isZeroBlock(index, i)) return undefined;
  const at = hashOrdinal(index, i) * index.hashBytes;
  return index.hashes.subarray(at, at + index.hashBytes);
}

/** Where unit `u` (a piece; `pieces` is the tail) starts in the data member's body. */
export function pieceStart(index: AdaptiveIndex, u: number): number {
  return index.offsets ? index.offsets[u]! : 512 + Math.min(u * index.pieceSize, index.size);
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

/** Bytes that `n` bytes take in base64. */
export const base64Length = (n: number) => 4 * Math.ceil(n / 3);

function invalid(message: string): never {
  fail("ADAPTIVE_INDEX_INVALID", `the adaptive index ${message}`);
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** The bytes of a base64 field, refused unless it decodes to exactly `expected` bytes. */
function decoded(text: string, expected: number, what: string): Uint8Array {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const length = Math.floor(text.length / 4) * 3 - padding;
  if (text.length % 4 !== 0 || length !== expected) {
    invalid(`holds ${Math.max(0, length)} bytes of ${what}, not ${expected}`);
  }
  const bytes = Buffer.from(text, "base64");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function ranksOf(zeros: Uint8Array, blocks: number): Uint32Array {
  const ranks = new Uint32Array(Math.ceil(blocks / 32) || 1);
  let hashed = 0;
  for (let word = 0; word < ranks.length; word++) {
    ranks[word] = hashed;
    const first = word * 32;
    for (let b = first >>> 3; b < Math.min(zeros.length, (first + 32) >>> 3); b++) {
      hashed += 8 - POPCOUNT[zeros[b]!]!;
    }
  }
  return ranks;
}

/**
 * The index from a payload's (verified) meta-data; undefined when it has none. An index
 * that is there but does not add up is refused: it is signed, so it is the writer's error.
 * What it makes ota allocate is bounded by the image size it declares, and that by
 * MAX_BLOCKS; every field's length is checked before it is decoded.
 */
export function readAdaptiveIndex(
  metaData: Record<string, unknown> | undefined,
): AdaptiveIndex | undefined {
  const raw = metaData?.[ADAPTIVE_KEY];
  if (raw === undefined) return undefined;
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === "number" && version !== 1 && version !== 2) {
    fail(
      "ADAPTIVE_INDEX_VERSION",
      `the adaptive index is of version ${version}; this ota reads versions 1 and 2`,
    );
  }
  const parsed = (version === 1 ? version1Schema : adaptiveIndexSchema).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!; // a failed parse has at least one issue
    invalid(`is malformed (${issue.path.join(".") || "the object"}: ${issue.message})`);
  }
  const json = parsed.data;
  if (!isPowerOfTwo(json.block_size)) invalid(`has a block size of ${json.block_size}`);
  const pieceSize = json.compression === "none" ? json.block_size : json.piece_size;
  if (pieceSize % json.block_size) invalid("has pieces that are not whole blocks");
  const blocks = Math.ceil(json.size / json.block_size);
  const pieces = Math.ceil(json.size / pieceSize);
  if (blocks > MAX_BLOCKS || (json.compression !== "none" && pieces > MAX_PIECES)) {
    fail(
      "ADAPTIVE_INDEX_TOO_LARGE",
      `the adaptive index describes ${blocks} blocks in ${pieces} pieces; ota takes at most ` +
        `${MAX_BLOCKS} blocks and ${MAX_PIECES} compressed pieces`,
    );
  }
  const { zeros, hashes, hashBytes } = json.version === 2
    ? version2Hashes(json, blocks)
    : version1Hashes(json.hashes, blocks, json.block_size, json.size);
  const index: AdaptiveIndex = {
    file: json.file,
    size: json.size,
    compression: json.compression,
    blockSize: json.block_size,
    pieceSize,
    dataSize: json.data_size,
    lead: json.lead,
    hashBytes,
    zeros,
    hashes,
    ranks: ranksOf(zeros, blocks),
  };
  if (json.compression === "none") {
    if (json.lead !== 512 || json.pieces !== undefined) invalid("does not fit an uncompressed tar");
  } else index.offsets = offsets(json, pieces);
  const tail = json.data_size - pieceStart(index, pieces);
  if (json.compression === "none" ? tail < tailLength(json.size) : tail <= 0) {
    invalid(`says the data member is ${json.data_size} bytes, too short for its pieces`);
  }
  return index;
}

function version2Hashes(json: AdaptiveIndexJson, blocks: number) {
  const zeros = decoded(json.zeros, Math.ceil(blocks / 8), "the zeros bitmap");
  let marked = 0;
  for (const byte of zeros) marked += POPCOUNT[byte]!;
  // no bit past the last block, and a short last block is never a block of zeros
  const whole = Math.floor(json.size / json.block_size);
  for (let i = whole; i < zeros.length * 8; i++) {
    if (zeros[i >>> 3]! & (1 << (i & 7))) invalid("marks a block of zeros past the image");
  }
  const hashes = decoded(json.hashes, (blocks - marked) * HASH_BYTES, "block hashes");
  return { zeros, hashes, hashBytes: HASH_BYTES };
}

/** Version 1's hashes of every block as version 2's: blocks of zeros in the bitmap. */
function version1Hashes(text: string, blocks: number, blockSize: number, size: number) {
  const all = decoded(text, blocks * 32, "block hashes");
  const zero = digest(new Uint8Array(blockSize));
  const zeros = new Uint8Array(Math.ceil(blocks / 8));
  const whole = Math.floor(size / blockSize);
  let kept = 0;
  for (let i = 0; i < blocks; i++) {
    const hash = all.subarray(i * 32, (i + 1) * 32);
    if (i < whole && Buffer.compare(hash, zero) === 0) zeros[i >>> 3]! |= 1 << (i & 7);
    else all.copyWithin(kept++ * 32, i * 32, (i + 1) * 32);
  }
  return { zeros, hashes: all.slice(0, kept * 32), hashBytes: 32 };
}

function offsets(json: z.infer<typeof version1Schema> | AdaptiveIndexJson, pieces: number) {
  if (json.pieces === undefined) invalid("has no piece lengths");
  const lengths = decoded(json.pieces, pieces * 4, "piece lengths");
  if (json.lead === 0) invalid("has no lead");
  const view = new DataView(lengths.buffer, lengths.byteOffset, lengths.byteLength);
  const result = new Float64Array(pieces + 1);
  result[0] = json.lead;
  for (let i = 0; i < pieces; i++) {
    const length = view.getUint32(i * 4, true);
    if (length === 0) invalid(`has an empty piece ${i}`);
    result[i + 1] = result[i]! + length;
  }
  return result;
}

/** What the writer measured, for the index in meta-data. */
export interface MeasuredIndex extends IndexLayout {
  lengths?: ArrayLike<number>;
  zeros: Uint8Array;
  /** HASH_BYTES per block that is not zeros. */
  hashes: Uint8Array;
}

/** The index as JSON for meta-data. */
export function adaptiveIndexJson(index: MeasuredIndex): AdaptiveIndexJson {
  let pieces: string | undefined;
  if (index.lengths) {
    const bytes = Buffer.alloc(index.lengths.length * 4);
    for (let i = 0; i < index.lengths.length; i++) bytes.writeUInt32LE(index.lengths[i]!, i * 4);
    pieces = bytes.toString("base64");
  }
  const text = (bytes: Uint8Array) =>
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
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
    zeros: text(index.zeros),
    hashes: text(index.hashes),
  };
}
