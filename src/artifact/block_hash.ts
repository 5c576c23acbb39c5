/**
 * What the adaptive writer and the device compute per block: its SHA-256 (the index keeps
 * the first bytes of it), a CRC-32 (to tell that a block of the running slot did not change
 * since it was hashed), and whether it is all zeros (such blocks are marked, not hashed).
 */
import { Buffer } from "node:buffer";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { sha256Into } from "../platform.ts";

// Node 20.11 (the armv7 build) has neither crypto.hash nor zlib.crc32: the slower ways then
const oneShot = typeof crypto.hash === "function" ? crypto.hash : undefined;
const crc = typeof zlib.crc32 === "function" ? zlib.crc32 : undefined;

/** SHA-256 of one block: the one-shot call costs a fifth less than a Hash object per block. */
export function digest(bytes: Uint8Array): Uint8Array {
  return oneShot
    ? oneShot("sha256", bytes, "buffer")
    : crypto.createHash("sha256").update(bytes).digest();
}

/** SHA-256 of one block into `out` (32 bytes): no buffer per block (see platform.ts). */
export function digestInto(bytes: Uint8Array, out: Uint8Array): Uint8Array {
  return sha256Into(bytes, out);
}

/** A cheap fingerprint of a block, to tell that it did not change since it was hashed. */
export function fingerprint(bytes: Uint8Array): number {
  if (crc) return crc(bytes);
  const d = digest(bytes);
  return (d[0]! | d[1]! << 8 | d[2]! << 16 | d[3]! << 24) >>> 0;
}

const ZEROS = Buffer.alloc(65536);
const compare = Buffer.prototype.compare;

/**
 * True when bytes `[start, end)` of `bytes` are all zeros: compared natively, and without a
 * view per call (views of a block add up to tens of MiB in a scan before Bun collects them).
 */
export function isZero(bytes: Uint8Array, start = 0, end = bytes.byteLength): boolean {
  for (let at = start; at < end; at += ZEROS.byteLength) {
    const n = Math.min(ZEROS.byteLength, end - at);
    // called on `bytes` (a Uint8Array is enough): Deno checks the ranges the other way wrong
    if (compare.call(bytes, ZEROS, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}
