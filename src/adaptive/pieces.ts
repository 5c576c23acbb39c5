/**
 * The fetched parts of an adaptive payload, each checked before a byte of it is used: a
 * piece must decompress on its own to exactly its image bytes and every block must have
 * its SHA-256 from the signed index; the lead must be the inner tar header of the image;
 * the tail must be only the end of the tar and of the artifact.
 */
import zlib from "node:zlib";
import {
  type AdaptiveIndex,
  blockHash,
  pieceCount,
  pieceSpan,
  pieceStart,
  tailLength,
} from "../artifact/adaptive_index.ts";
import { OtaError } from "../errors.ts";
import { digest, isZero } from "../artifact/block_hash.ts";
import { readTarHeader } from "./tar_header.ts";

function mismatch(message: string): OtaError {
  return new OtaError("ADAPTIVE_MISMATCH", message);
}

/** Decompresses one gzip member, refusing more than `expected` bytes. */
function inflate(index: AdaptiveIndex, bytes: Uint8Array, expected: number, what: string) {
  if (index.compression === "none") return bytes;
  try {
    const options = { maxOutputLength: Math.max(1, expected) };
    const out = zlib.gunzipSync(bytes, options);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    throw mismatch(`${what} does not decompress (${(error as Error).message})`);
  }
}

/** True when block `i` of the image has the bytes `block`. */
export function blockMatches(index: AdaptiveIndex, i: number, block: Uint8Array): boolean {
  const expected = blockHash(index, i);
  if (!expected) return block.byteLength === index.blockSize && isZero(block);
  const actual = digest(block);
  for (let b = 0; b < expected.byteLength; b++) if (actual[b] !== expected[b]) return false;
  return true;
}

/** The image bytes of piece `p` from its stored bytes; throws ADAPTIVE_MISMATCH. */
export function decodePiece(index: AdaptiveIndex, p: number, stored: Uint8Array): Uint8Array {
  const { start, end } = pieceSpan(index, p);
  const image = inflate(index, stored, end - start, `piece ${p}`);
  if (image.byteLength !== end - start) {
    throw mismatch(`piece ${p} holds ${image.byteLength} bytes, not ${end - start}`);
  }
  const first = start / index.blockSize;
  for (let at = 0; at < image.byteLength; at += index.blockSize) {
    const block = image.subarray(at, at + index.blockSize);
    if (!blockMatches(index, first + at / index.blockSize, block)) {
      throw mismatch(`block ${first + at / index.blockSize} does not match the index`);
    }
  }
  return image;
}

/** Checks the lead: the inner tar's header for the image, and nothing else. */
export function checkLead(index: AdaptiveIndex, stored: Uint8Array): void {
  const header = inflate(index, stored, 512, "the payload's tar header");
  const file = readTarHeader(header);
  if (header.byteLength !== 512 || file?.name !== index.file || file.size !== index.size) {
    throw mismatch(`the payload's tar does not start with ${index.file} of ${index.size} bytes`);
  }
}

/**
 * Checks the tail unit (from the end of the last piece to the end of the artifact): the
 * tar's padding and end blocks in the payload, then only zeros (the artifact's own end).
 */
export function checkTail(index: AdaptiveIndex, stored: Uint8Array): void {
  const inPayload = index.dataSize - pieceStart(index, pieceCount(index));
  const tail = inflate(index, stored.subarray(0, inPayload), tailLength(index.size), "the tail");
  const after = stored.subarray(inPayload);
  if (
    tail.byteLength !== tailLength(index.size) || tail.some((b) => b !== 0) ||
    after.byteLength < 1024 || after.some((b) => b !== 0)
  ) {
    throw mismatch("something follows the image in the payload or the artifact");
  }
}
