/**
 * Reading one 512-byte tar header without a tar reader: what an adaptive install needs to
 * find the members of an artifact by their offsets (the head is fetched by byte range, so
 * where each member starts must be known before its bytes are). Only regular files in
 * ustar or GNU headers, named in the header itself; anything else is not understood, and
 * the caller then reads the artifact as a whole, as any install does.
 */

export interface TarHeaderInfo {
  name: string;
  size: number;
}

export const TAR_BLOCK = 512;

const text = (block: Uint8Array, start: number, length: number) => {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
};

function sizeField(block: Uint8Array): number | undefined {
  if ((block[124]! & 0x80) !== 0) {
    // base-256, as writers use from 8 GiB on
    let size = 0;
    for (let i = 125; i < 136; i++) size = size * 256 + block[i]!;
    return Number.isSafeInteger(size) ? size : undefined;
  }
  const octal = text(block, 124, 12).trim();
  return /^[0-7]{1,11}$/.test(octal) ? parseInt(octal, 8) : undefined;
}

function checksumMatches(block: Uint8Array): boolean {
  const stored = text(block, 148, 8).trim();
  if (!/^[0-7]{1,7}$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(stored, 8);
}

/** The regular file a header block describes; undefined for anything else (or an end block). */
export function readTarHeader(block: Uint8Array): TarHeaderInfo | undefined {
  if (block.byteLength < TAR_BLOCK || !checksumMatches(block)) return undefined;
  const type = block[156];
  if (type !== 0x30 && type !== 0) return undefined; // a regular file ("0" or NUL)
  const magic = text(block, 257, 6);
  if (magic !== "ustar" && magic !== "ustar ") return undefined;
  // a ustar prefix would put the name elsewhere: artifact members never have one
  if (magic === "ustar" && block[345] !== 0) return undefined;
  const size = sizeField(block);
  const name = text(block, 0, 100);
  return size === undefined || !name ? undefined : { name, size };
}

/** Bytes a member of `size` bytes takes after its header: its body padded to whole blocks. */
export function paddedSize(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}
