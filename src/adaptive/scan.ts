/**
 * What the running slot already holds: every block of it hashed once, kept where a block
 * of the new image has the same SHA-256. Blocks are looked up by content, not by position,
 * so files that moved between releases (by whole blocks, as file systems place them) are
 * found where they are now.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { type AdaptiveIndex, blockCount, blockHash } from "../artifact/adaptive_index.ts";

/** A block hash as a map key (32 one-byte characters). */
export function hashKey(hash: Uint8Array): string {
  return String.fromCharCode(...hash);
}

/** The key of a block of zeros: written without being read or fetched. */
export function zeroKey(blockSize: number): string {
  return hashKey(createHash("sha256").update(new Uint8Array(blockSize)).digest());
}

export interface SlotScan {
  /** Hash key -> offset in the running slot of a block with that content. */
  found: Map<string, number>;
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
  const found = new Map<string, number>();
  const block = index.blockSize;
  const buffer = new Uint8Array(Math.max(READ - (READ % block), block));
  const handle = await fs.open(path, "r");
  let scanned = 0;
  try {
    while (scanned < limit) {
      const want = Math.min(buffer.byteLength, limit - scanned);
      const { bytesRead } = await handle.read(buffer, 0, want, scanned);
      if (bytesRead === 0) break;
      // a short last block can only match the image's short last block: hash it as it is
      for (let at = 0; at < bytesRead; at += block) {
        const key = hashKey(
          createHash("sha256").update(buffer.subarray(at, Math.min(at + block, bytesRead)))
            .digest(),
        );
        if (wanted.has(key) && !found.has(key)) found.set(key, scanned + at);
      }
      scanned += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { found, scanned };
}
