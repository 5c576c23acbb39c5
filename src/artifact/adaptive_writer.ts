/**
 * Writing the payload of an adaptive rootfs-image artifact (see adaptive_index.ts). The
 * image is read twice, as the writer reads every payload: the first pass hashes it (the
 * whole image for the manifest, each block for the index) and compresses each piece on
 * its own (a gzip member) to learn its length; the second pass compresses the same pieces again into the
 * data member and checks that they came out the same, so a file that changed in between is
 * refused instead of being described wrongly.
 */
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { fail } from "../errors.ts";
import { readFileInTurns } from "../files.ts";
import { collectEvery } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import {
  type AdaptiveCompression,
  type AdaptiveIndexJson,
  adaptiveIndexJson,
  HASH_BYTES,
  MAX_INDEX_BYTES,
  tailLength,
} from "./adaptive_index.ts";
import { digestInto, isZero } from "./block_hash.ts";
import type { Compression } from "./compression.ts";
import type { FileSource } from "./header_write.ts";
import { END_OF_ARCHIVE, tarHeader, tarPadding } from "./tar_write.ts";

export interface AdaptiveWriteOptions {
  compression: AdaptiveCompression;
  /** 1..9, as for the whole artifact. */
  level?: number;
  blockSize: number;
  /** Image bytes per compressed piece (a multiple of the block size). */
  pieceSize: number;
  /** Bytes the index may take in meta-data; larger blocks are taken when it would not fit. */
  maxIndexBytes: number;
  /** Seconds since the epoch for the inner tar header. */
  mtime: number;
}

export interface AdaptivePlan {
  size: number;
  /** The image's SHA-256: its manifest line. */
  sha256: string;
  index: AdaptiveIndexJson;
  /** Compressed length of every piece, to check the second pass against. */
  lengths: number[];
}

/**
 * Compresses pieces as gzip members of their own. A piece of zeros (free space, most of a
 * large image) always compresses to the same bytes: those are made once. Every other piece
 * is a new buffer, collected as they add up.
 */
export function pieceCompressor(level?: number): (bytes: Uint8Array) => Uint8Array {
  const zeros = new Map<number, Uint8Array>();
  const collect = collectEvery(32 * 1024 * 1024);
  return (bytes) => {
    if (!isZero(bytes)) {
      const packed = compressPiece(bytes, level);
      collect(packed.byteLength);
      return packed;
    }
    let packed = zeros.get(bytes.byteLength);
    if (!packed) zeros.set(bytes.byteLength, packed = compressPiece(bytes, level));
    return packed;
  };
}

export function compressPiece(bytes: Uint8Array, level?: number): Uint8Array {
  return zlib.gzipSync(bytes, { level: level ?? 6 });
}

/** A byte array that grows as it is appended to. */
export class ByteBuilder {
  #bytes: Uint8Array;
  length = 0;

  constructor(capacity = 65536) {
    this.#bytes = new Uint8Array(capacity);
  }

  #reserve(n: number): void {
    if (this.length + n <= this.#bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(this.length + n, 2 * this.#bytes.byteLength));
    grown.set(this.#bytes.subarray(0, this.length));
    this.#bytes = grown;
  }

  push(bytes: Uint8Array): void {
    this.#reserve(bytes.byteLength);
    this.#bytes.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /** Sets bit `i` (bit i % 8 of byte i >> 3), growing to hold it. */
  setBit(i: number): void {
    if (i >>> 3 >= this.length) {
      this.#reserve((i >>> 3) + 1 - this.length);
      this.length = (i >>> 3) + 1; // new bytes are zeros
    }
    this.#bytes[i >>> 3]! |= 1 << (i & 7);
  }

  /** The bytes, `length` of them at least (zeros after what was written). */
  bytes(length = this.length): Uint8Array {
    this.#reserve(Math.max(0, length - this.length));
    return this.#bytes.slice(0, Math.max(length, this.length));
  }
}

/**
 * The image in pieces of exactly `size` bytes (the last one shorter), each good until the
 * next is asked for: read into two buffers in turn (a MiB or more at a time), no buffer per
 * piece, which for an 8 GiB image would cost more in page faults than the reading.
 */
export async function* imagePieces(source: FileSource, size: number): AsyncGenerator<Uint8Array> {
  if (!("path" in source)) {
    for (let at = 0; at < source.bytes.byteLength; at += size) {
      yield source.bytes.subarray(at, at + size);
    }
    return;
  }
  const carry = new Uint8Array(size); // a piece across two reads (a short read)
  let held = 0;
  for await (const chunk of readFileInTurns(source.path, Math.ceil((1 << 20) / size) * size)) {
    let at = 0;
    if (held) {
      at = Math.min(size - held, chunk.byteLength);
      carry.set(chunk.subarray(0, at), held);
      held += at;
      if (held < size) continue;
      yield carry;
      held = 0;
    }
    for (; at + size <= chunk.byteLength; at += size) yield chunk.subarray(at, at + size);
    if (at < chunk.byteLength) {
      held = chunk.byteLength - at;
      carry.set(chunk.subarray(at));
    }
  }
  if (held) yield carry.subarray(0, held);
}

/** The options for one artifact's adaptive payload; refuses what cannot be written so. */
export function adaptiveWriteOptions(
  sizes: { blockSize: number; pieceSize: number; maxIndexBytes?: number },
  spec: {
    compression: Compression;
    compressionLevel?: number;
    payload: { files: unknown[]; augment?: unknown };
  },
  mtime: number,
): AdaptiveWriteOptions {
  if (spec.payload.files.length !== 1 || spec.payload.augment) {
    fail("BAD_ARGUMENTS", "an adaptive payload is exactly one image file, without an augment");
  }
  if (spec.compression !== "none" && spec.compression !== "gzip") {
    fail(
      "BAD_ARGUMENTS",
      `an adaptive payload is written with --compression gzip or none, not ${spec.compression}: ` +
        "its pieces must decompress alone, for ota and Mender's client alike",
    );
  }
  const { blockSize, pieceSize } = sizes;
  if (blockSize < 512 || blockSize > 1 << 20 || (blockSize & (blockSize - 1)) !== 0) {
    fail("BAD_ARGUMENTS", `the adaptive block size must be a power of two from 512 to 1 MiB`);
  }
  if (pieceSize < blockSize || pieceSize % blockSize || pieceSize > 1 << 24) {
    fail("BAD_ARGUMENTS", "the adaptive piece size must be whole blocks, at most 16 MiB");
  }
  const maxIndexBytes = sizes.maxIndexBytes ?? MAX_INDEX_BYTES;
  if (maxIndexBytes < 4096 || maxIndexBytes > MAX_INDEX_BYTES) {
    fail("BAD_ARGUMENTS", `the adaptive index may take from 4 KiB to ${MAX_INDEX_BYTES} bytes`);
  }
  return {
    compression: spec.compression,
    level: spec.compressionLevel,
    blockSize,
    pieceSize,
    maxIndexBytes,
    mtime,
  };
}

function leadOf(name: string, size: number, options: AdaptiveWriteOptions): Uint8Array {
  const header = tarHeader({ name, size, mtime: options.mtime, owner: "root" });
  return options.compression === "none" ? header : compressPiece(header, options.level);
}

function tailOf(size: number, options: AdaptiveWriteOptions): Uint8Array {
  const tail = new Uint8Array(tailLength(size));
  tail.set(tarPadding(size));
  tail.set(END_OF_ARCHIVE, tail.byteLength - END_OF_ARCHIVE.byteLength);
  return options.compression === "none" ? tail : compressPiece(tail, options.level);
}

/**
 * The first pass over the image `name`, given in pieces of the piece size (the last one
 * shorter), each used before the next is asked for (imagePieces in writer.ts).
 */
export async function planAdaptive(
  name: string,
  pieces: AsyncIterable<Uint8Array>,
  options: AdaptiveWriteOptions,
  onBytes?: (n: number) => void,
): Promise<AdaptivePlan> {
  const whole = createHash("sha256");
  const zeros = new ByteBuilder(4096);
  const hashes = new ByteBuilder();
  const lengths: number[] = [];
  const compress = pieceCompressor(options.level);
  const hash = new Uint8Array(32);
  let size = 0;
  let block = 0;
  // uncompressed, a piece is a block; reading goes by piece_size all the same
  for await (const piece of pieces) {
    whole.update(piece);
    size += piece.byteLength;
    for (let at = 0; at < piece.byteLength; at += options.blockSize, block++) {
      const end = at + options.blockSize;
      if (end <= piece.byteLength && isZero(piece, at, end)) zeros.setBit(block);
      else hashes.push(digestInto(piece.subarray(at, end), hash).subarray(0, HASH_BYTES));
    }
    if (options.compression !== "none") lengths.push(compress(piece).byteLength);
    onBytes?.(piece.byteLength);
  }
  const lead = leadOf(name, size, options).byteLength;
  const tail = tailOf(size, options).byteLength;
  const body = options.compression === "none" ? size : lengths.reduce((a, b) => a + b, 0);
  return {
    size,
    sha256: whole.digest("hex"),
    lengths,
    index: adaptiveIndexJson({
      file: name,
      size,
      compression: options.compression,
      blockSize: options.blockSize,
      pieceSize: options.compression === "none" ? options.blockSize : options.pieceSize,
      dataSize: lead + body + tail,
      lead,
      lengths: options.compression === "none" ? undefined : lengths,
      zeros: zeros.bytes(Math.ceil(block / 8)),
      hashes: hashes.bytes(),
    }),
  };
}

/**
 * The second pass: the data member's body, piece by piece. Errors (instead of ending) when
 * the image no longer gives the pieces the index describes.
 */
export function adaptiveBody(
  name: string,
  pieces: AsyncIterable<Uint8Array>,
  plan: AdaptivePlan,
  options: AdaptiveWriteOptions,
  onBytes?: (n: number) => void,
): ByteStream {
  const changed = () =>
    fail("INPUT_CHANGED", `${name} changed while the artifact was written; write it again`);
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield leadOf(name, plan.size, options);
    const compress = pieceCompressor(options.level);
    const whole = createHash("sha256");
    let i = 0;
    let size = 0;
    for await (const piece of pieces) {
      whole.update(piece);
      size += piece.byteLength;
      if (options.compression === "none") yield piece;
      else {
        const packed = compress(piece);
        if (packed.byteLength !== plan.lengths[i]) changed();
        yield packed;
      }
      i++;
      onBytes?.(piece.byteLength);
    }
    if (size !== plan.size || whole.digest("hex") !== plan.sha256) changed();
    yield tailOf(plan.size, options);
  }
  const generator = parts();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await generator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await generator.return(undefined);
    },
  }, { highWaterMark: 0 });
}
