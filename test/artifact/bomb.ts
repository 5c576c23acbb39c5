/**
 * Decompression bombs: a payload of gigabytes of zeros that compresses to a few kilobytes.
 * Built without ever holding or compressing the gigabytes: xz streams, zstd frames and gzip
 * members may be concatenated, so one compressed block of zeros is repeated.
 */
import type { Compression } from "../../src/artifact/compression.ts";
import { concat } from "../../src/streams.ts";
import { compressed, craft, EOA, tarHeader } from "./craft.ts";

const CHUNK = 64 * 1024 * 1024;

const blocks = new Map<Compression, Promise<Uint8Array>>();

/** 64 MiB of zeros, compressed once per compression (xz takes seconds). */
function zeroBlock(compression: Compression): Promise<Uint8Array> {
  if (!blocks.has(compression)) {
    blocks.set(compression, compressed(new Uint8Array(CHUNK), compression));
  }
  return blocks.get(compression)!;
}

export interface BombOptions {
  /** The payload file's size as declared in the payload tar (defaults to `zeros`). */
  declared?: number;
  /** Zeros that follow the payload tar's end (trailing junk the declared sizes do not cover). */
  trailing?: number;
  /** What the manifest says the file holds (by default something else, so the checksum fails). */
  listed?: Uint8Array;
}

/**
 * An artifact whose payload file is `zeros` bytes of zeros (a multiple of 64 MiB), with a
 * manifest checksum that does not match (unless `listed` says otherwise), so reading it
 * through ends in CHECKSUM_MISMATCH.
 */
export async function bombArtifact(
  compression: Exclude<Compression, "none">,
  zeros: number,
  options: BombOptions = {},
): Promise<Uint8Array> {
  if (zeros % CHUNK !== 0) throw new Error("bomb sizes are multiples of 64 MiB");
  const block = await zeroBlock(compression);
  const parts = [
    await compressed(
      tarHeader({ name: "rootfs.img", size: options.declared ?? zeros }),
      compression,
    ),
    ...Array.from({ length: zeros / CHUNK }, () => block),
    await compressed(EOA, compression),
    ...Array.from({ length: (options.trailing ?? 0) / CHUNK }, () => block),
  ];
  return await craft({
    compression,
    files: [{ name: "rootfs.img", body: options.listed ?? new Uint8Array([1]) }],
    dataMember: concat(parts),
  });
}
