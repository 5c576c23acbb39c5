/**
 * What the running slot already holds: every block of it hashed once, kept where a block
 * of the new image has the same SHA-256. Blocks are looked up by content, not by position,
 * so files that moved between releases (by whole blocks, as file systems place them) are
 * found where they are now.
 */
import { Buffer } from "node:buffer";
import crypto from "node:crypto";
import { promises as fs } from "node:fs";
import zlib from "node:zlib";
import { type AdaptiveIndex, blockCount, blockHash } from "../artifact/adaptive_index.ts";
import { collectEvery } from "../platform.ts";

// Node 20.11 (the armv7 build) has neither crypto.hash nor zlib.crc32: the slower ways then
const oneShot = typeof crypto.hash === "function" ? crypto.hash : undefined;
const crc = typeof zlib.crc32 === "function" ? zlib.crc32 : undefined;

/** SHA-256 of one block: the one-shot call costs a fifth less than a Hash object per block. */
export function digest(bytes: Uint8Array): Uint8Array {
  return oneShot
    ? oneShot("sha256", bytes, "buffer")
    : crypto.createHash("sha256").update(bytes).digest();
}

/** A cheap fingerprint of a block, to tell that it did not change since it was hashed. */
export function fingerprint(bytes: Uint8Array): number {
  if (crc) return crc(bytes);
  const d = digest(bytes);
  return (d[0]! | d[1]! << 8 | d[2]! << 16 | d[3]! << 24) >>> 0;
}

/** A block hash as a map key (32 one-byte characters). */
export function hashKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString("latin1");
}

/** The key of a block of zeros: written without being read or fetched. */
export function zeroKey(blockSize: number): string {
  return hashKey(digest(new Uint8Array(blockSize)));
}

/** True when every byte is zero (a quarter of the cost of hashing; free space mostly is). */
export function isZero(bytes: Uint8Array): boolean {
  if (bytes.byteOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) return bytes.every((b) => !b);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

/** Where the running slot holds a block, and its CRC-32 then: copying checks it is unchanged. */
export interface Found {
  offset: number;
  crc: number;
}

export interface SlotScan {
  /** Hash key -> a block of the running slot with that content. */
  found: Map<string, Found>;
  /** Bytes of the running slot read. */
  scanned: number;
}

const READ = 1024 * 1024;

/** Hashes the first `limit` bytes of the running slot at `path`, block by block. */
export async function scanSlot(
  path: string,
  index: AdaptiveIndex,
  limit: number,
): Promise<SlotScan> {
  const wanted = new Set<string>();
  for (let i = 0; i < blockCount(index); i++) wanted.add(hashKey(blockHash(index, i)));
  wanted.delete(zeroKey(index.blockSize));
  const found = new Map<string, Found>();
  const block = index.blockSize;
  const size = Math.max(READ - (READ % block), block);
  const buffers = [new Uint8Array(size), new Uint8Array(size)];
  const handle = await fs.open(path, "r");
  let scanned = 0;
  const collect = collectEvery(32 * 1024 * 1024); // a hash and a view per block add up
  // the next chunk is read while this one is hashed
  const read = (buffer: Uint8Array, at: number) =>
    at < limit
      ? handle.read(buffer, 0, Math.min(size, limit - at), at).then((r) => r.bytesRead)
      : Promise.resolve(0);
  try {
    let next = read(buffers[0]!, 0);
    for (let turn = 0;; turn++) {
      const bytesRead = await next;
      if (bytesRead === 0) break;
      const buffer = buffers[turn % 2]!;
      next = read(buffers[(turn + 1) % 2]!, scanned + bytesRead);
      // a short last block can only match the image's short last block: hash it as it is
      for (let at = 0; at < bytesRead; at += block) {
        const bytes = buffer.subarray(at, Math.min(at + block, bytesRead));
        if (bytes.byteLength === block && isZero(bytes)) continue; // zeros are never read
        const key = hashKey(digest(bytes));
        if (wanted.has(key) && !found.has(key)) {
          found.set(key, { offset: scanned + at, crc: fingerprint(bytes) });
        }
      }
      scanned += bytesRead;
      collect(bytesRead);
    }
    await next.catch(() => {});
  } finally {
    await handle.close();
  }
  return { found, scanned };
}
