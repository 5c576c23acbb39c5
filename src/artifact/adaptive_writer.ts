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
import type { ByteStream } from "../streams.ts";
import {
  type AdaptiveCompression,
  type AdaptiveIndexJson,
  adaptiveIndexJson,
  HASH_BYTES,
  tailLength,
} from "./adaptive_index.ts";
import type { Compression } from "./compression.ts";
import { END_OF_ARCHIVE, tarHeader, tarPadding } from "./tar_write.ts";

export interface AdaptiveWriteOptions {
  compression: AdaptiveCompression;
  /** 1..9, as for the whole artifact. */
  level?: number;
  blockSize: number;
  /** Image bytes per compressed piece (a multiple of the block size). */
  pieceSize: number;
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

/** Compresses one piece as a gzip member of its own. */
export function compressPiece(bytes: Uint8Array, level?: number): Uint8Array {
  return zlib.gzipSync(bytes, { level: level ?? 6 });
}

/** Exact `size`-byte chunks of a stream (the last one shorter). */
export async function* chunksOf(stream: ByteStream, size: number): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of stream) {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const n = Math.min(size - filled, chunk.byteLength - offset);
      buffer.set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled) yield buffer.subarray(0, filled);
}

/** The options for one artifact's adaptive payload; refuses what cannot be written so. */
export function adaptiveWriteOptions(
  sizes: { blockSize: number; pieceSize: number },
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
  return {
    compression: spec.compression,
    level: spec.compressionLevel,
    blockSize,
    pieceSize,
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

/** The first pass over the image `name`. */
export async function planAdaptive(
  name: string,
  image: ByteStream,
  options: AdaptiveWriteOptions,
  onBytes?: (n: number) => void,
): Promise<AdaptivePlan> {
  const whole = createHash("sha256");
  const hashes: Uint8Array[] = [];
  const lengths: number[] = [];
  let size = 0;
  // uncompressed, a piece is a block; reading goes by piece_size all the same
  for await (const piece of chunksOf(image, options.pieceSize)) {
    whole.update(piece);
    size += piece.byteLength;
    for (let at = 0; at < piece.byteLength; at += options.blockSize) {
      hashes.push(
        createHash("sha256").update(piece.subarray(at, at + options.blockSize)).digest(),
      );
    }
    if (options.compression !== "none") {
      lengths.push(compressPiece(piece, options.level).byteLength);
    }
    onBytes?.(piece.byteLength);
  }
  const lead = leadOf(name, size, options).byteLength;
  const tail = tailOf(size, options).byteLength;
  const body = options.compression === "none" ? size : lengths.reduce((a, b) => a + b, 0);
  const all = new Uint8Array(hashes.length * HASH_BYTES);
  hashes.forEach((hash, i) => all.set(hash, i * HASH_BYTES));
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
      hashes: all,
    }),
  };
}

/**
 * The second pass: the data member's body, piece by piece. Errors (instead of ending) when
 * the image no longer gives the pieces the index describes.
 */
export function adaptiveBody(
  name: string,
  image: ByteStream,
  plan: AdaptivePlan,
  options: AdaptiveWriteOptions,
  onBytes?: (n: number) => void,
): ByteStream {
  const changed = () =>
    fail("INPUT_CHANGED", `${name} changed while the artifact was written; write it again`);
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield leadOf(name, plan.size, options);
    const whole = createHash("sha256");
    let i = 0;
    let size = 0;
    for await (const piece of chunksOf(image, options.pieceSize)) {
      whole.update(piece);
      size += piece.byteLength;
      if (options.compression === "none") yield piece;
      else {
        const packed = compressPiece(piece, options.level);
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
