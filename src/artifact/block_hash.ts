/**
 * What the adaptive writer and the device compute per block: its SHA-256 (the index keeps
 * the first bytes of it), a CRC-32 (to tell that a block of the running slot did not change
 * since it was hashed), and whether it is all zeros (such blocks are marked, not hashed).
 */
import { Buffer } from "node:buffer";
import { crypto, zlib } from "../builtins.ts";
import { sha256Into } from "../platform.ts";

/** SHA-256 of one block: the one-shot call costs a fifth less than a Hash object per block. */
export function digest(bytes: Uint8Array): Uint8Array {
  const c = crypto();
  // Node 20.11 (the armv7 build) has no crypto.hash: the slower way there
  return typeof c.hash === "function"
    ? c.hash("sha256", bytes, "buffer")
    : c.createHash("sha256").update(bytes).digest();
}

/** SHA-256 of one block into `out` (32 bytes): no buffer per block (see platform.ts). */
export function digestInto(bytes: Uint8Array, out: Uint8Array): Uint8Array {
  return sha256Into(bytes, out);
}

/** A cheap fingerprint of a block, to tell that it did not change since it was hashed. */
export function fingerprint(bytes: Uint8Array): number {
  const z = zlib();
  if (typeof z.crc32 === "function") return z.crc32(bytes); // not in Node 20.11
  const d = digest(bytes);
  return (d[0]! | d[1]! << 8 | d[2]! << 16 | d[3]! << 24) >>> 0;
}

let zeros: Uint8Array | undefined;
const compare = Buffer.prototype.compare;

/**
 * True when bytes `[start, end)` of `bytes` are all zeros: compared natively, and without a
 * view per call (views of a block add up to tens of MiB in a scan before Bun collects them).
 */
export function isZero(bytes: Uint8Array, start = 0, end = bytes.byteLength): boolean {
  zeros ??= new Uint8Array(65536);
  for (let at = start; at < end; at += zeros.byteLength) {
    const n = Math.min(zeros.byteLength, end - at);
    // called on `bytes` (a Uint8Array is enough): Deno checks the ranges the other way wrong
    if (compare.call(bytes, zeros, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}
