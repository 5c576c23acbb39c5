/**
 * What the running slot already holds: every block of it hashed once, kept where a block
 * of the new image has the same hash. Blocks are looked up by content, not by position,
 * so files that moved between releases (by whole blocks, as file systems place them) are
 * found where they are now. All of it in typed arrays: per hashed block of the new image a
 * table slot, a source and a CRC-32, whatever the size of the running slot.
 */
import { promises as fs } from "node:fs";
import { type AdaptiveIndex, hashedCount } from "../artifact/adaptive_index.ts";
import { digestInto, fingerprint, isZero } from "../artifact/block_hash.ts";
import { collectEvery } from "../platform.ts";
import { BlockTable } from "./block_table.ts";

export interface SlotScan {
  table: BlockTable;
  /**
   * Per hashed block of the new image (its first one, when blocks repeat): 1 + the block of
   * the running slot that has its hash, or 0.
   */
  found: Uint32Array;
  /** Per hashed block found: the CRC-32 of the running slot's block when it was hashed. */
  crcs: Uint32Array;
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
  const table = new BlockTable(index);
  const found = new Uint32Array(hashedCount(index));
  const crcs = new Uint32Array(found.length);
  const block = index.blockSize;
  const size = Math.max(READ - (READ % block), block);
  const buffers = [new Uint8Array(size), new Uint8Array(size)];
  const hash = new Uint8Array(32);
  const handle = await fs.open(path, "r");
  let scanned = 0;
  const collect = collectEvery(64 * 1024 * 1024); // a view per block adds up
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
        if (at + block <= bytesRead && isZero(buffer, at, at + block)) continue; // never read
        const bytes = buffer.subarray(at, Math.min(at + block, bytesRead));
        const k = table.find(digestInto(bytes, hash));
        if (k >= 0 && found[k] === 0) {
          found[k] = (scanned + at) / block + 1;
          crcs[k] = fingerprint(bytes);
        }
      }
      scanned += bytesRead;
      collect(bytesRead);
    }
    await next.catch(() => {});
  } finally {
    await handle.close();
  }
  return { table, found, crcs, scanned };
}
