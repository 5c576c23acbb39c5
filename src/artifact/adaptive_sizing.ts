/**
 * The block size of an adaptive image. Its index is in the signed header, which readers
 * take up to 16 MiB (limits.ts) and Mender 3.4 holds in memory several times over (its
 * peak grows by about 3.6 bytes per byte of meta-data): at 16 bytes of hash per block that
 * is not zeros, 4 KiB blocks hold about 2.9 GiB of data (any amount of zeros). An image
 * with more is written with larger blocks, doubled until its index fits, and the writer
 * says so: blocks larger than the file system's lose what moved by less than a block.
 */
import {
  type AdaptiveCompression,
  base64Length,
  HASH_BYTES,
  MAX_BLOCKS,
  MAX_PIECES,
} from "./adaptive_index.ts";
import { ByteBuilder } from "./adaptive_writer.ts";
import { isZero } from "./block_hash.ts";

const MAX_BLOCK = 1 << 20;
const MAX_PIECE = 1 << 24;

export interface BlockSizes {
  blockSize: number;
  pieceSize: number;
}

/** Bytes of the index in meta-data (within a few hundred) for these counts. */
export function indexLength(blocks: number, hashed: number, pieces?: number): number {
  return 512 + base64Length(hashed * HASH_BYTES) + base64Length(Math.ceil(blocks / 8)) +
    (pieces === undefined ? 0 : base64Length(pieces * 4));
}

/** Sizes with blocks of `blockSize`: pieces of whole blocks, few enough. */
function sizesAt(
  size: number,
  blockSize: number,
  requested: BlockSizes,
  compression: AdaptiveCompression,
): BlockSizes | undefined {
  if (compression === "none") return { blockSize, pieceSize: blockSize };
  let pieceSize = Math.ceil(requested.pieceSize / blockSize) * blockSize;
  while (Math.ceil(size / pieceSize) > MAX_PIECES && pieceSize * 2 <= MAX_PIECE) pieceSize *= 2;
  return pieceSize <= MAX_PIECE && Math.ceil(size / pieceSize) <= MAX_PIECES
    ? { blockSize, pieceSize }
    : undefined;
}

/**
 * The smallest sizes, from the requested ones up, whose index fits `budget` bytes for an
 * image of `size` bytes; `zerosAt(blockSize)` counts its blocks of zeros at that size (none
 * when unknown).
 */
export function fittingSizes(
  size: number,
  requested: BlockSizes,
  compression: AdaptiveCompression,
  budget: number,
  zerosAt: (blockSize: number) => number = () => 0,
): BlockSizes | undefined {
  for (let block = requested.blockSize; block <= MAX_BLOCK; block *= 2) {
    const sizes = sizesAt(size, block, requested, compression);
    const blocks = Math.ceil(size / block);
    if (!sizes || blocks > MAX_BLOCKS) continue;
    const pieces = compression === "none" ? undefined : Math.ceil(size / sizes.pieceSize);
    if (indexLength(blocks, blocks - zerosAt(block), pieces) <= budget) return sizes;
  }
  return undefined;
}

/**
 * The image's whole blocks of zeros at `blockSize`, a bit each (as in the index), from its
 * chunks of whole blocks (the last one shorter).
 */
export async function zeroMap(
  chunks: AsyncIterable<Uint8Array>,
  blockSize: number,
  onBytes?: (n: number) => void,
): Promise<{ bits: Uint8Array; blocks: number }> {
  const bits = new ByteBuilder(4096);
  let blocks = 0;
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.byteLength; at += blockSize, blocks++) {
      if (at + blockSize <= chunk.byteLength && isZero(chunk, at, at + blockSize)) {
        bits.setBit(blocks);
      }
    }
    onBytes?.(chunk.byteLength);
  }
  return { bits: bits.bytes(Math.ceil(blocks / 8)), blocks };
}

/** Blocks of zeros at `blockSize`, a multiple of the map's: all the blocks they cover are. */
export function zerosAt(map: { bits: Uint8Array; blocks: number }, ratio: number): number {
  let zeros = 0;
  for (let first = 0; first + ratio <= map.blocks; first += ratio) {
    let i = first;
    while (i < first + ratio && map.bits[i >>> 3]! & (1 << (i & 7))) i++;
    if (i === first + ratio) zeros++;
  }
  return zeros;
}
