/**
 * Writing tar, the small part of it artifacts need: regular files in ustar headers, as
 * mender-artifact writes them. Sizes of 8 GiB and more use the base-256 size field (read by
 * Go's archive/tar, GNU tar and libarchive), which keeps every header exactly one block, so
 * the writer can reserve a header and fill in the size after streaming the body.
 */
import { fail } from "../errors.ts";

export const BLOCK = 512;
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

export interface TarFileHeader {
  name: string;
  size: number;
  mode?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  owner?: string;
}

const encoder = new TextEncoder();

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) fail("TAR_NAME", `tar field value too long: ${value.slice(0, 120)}`);
  block.set(bytes, offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  putString(block, offset, length - 1, value.toString(8).padStart(length - 1, "0"));
}

function putSize(block: Uint8Array, size: number): void {
  if (size < 0o77777777777) return putOctal(block, 124, 12, size);
  block[124] = 0x80;
  let rest = BigInt(size);
  for (let i = 135; i > 124; i--) {
    block[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

/** One 512-byte ustar header for a regular file. */
export function tarHeader(file: TarFileHeader): Uint8Array {
  if (encoder.encode(file.name).length > 100) {
    fail("TAR_NAME", `tar member name longer than 100 bytes: ${file.name}`);
  }
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, file.name);
  putOctal(block, 100, 8, file.mode ?? 0o644);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putSize(block, file.size);
  putOctal(block, 136, 12, Math.max(0, Math.floor(file.mtime ?? 0)));
  block.fill(0x20, 148, 156);
  block[156] = 0x30; // regular file
  putString(block, 257, 6, "ustar");
  putString(block, 263, 2, "00");
  putString(block, 265, 32, file.owner ?? "");
  putString(block, 297, 32, file.owner ?? "");
  let sum = 0;
  for (const byte of block) sum += byte;
  putString(block, 148, 7, sum.toString(8).padStart(6, "0") + "\0");
  return block;
}

/** Zero bytes that pad a body of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** A complete tar held in memory (for small members: header, version, manifest). */
export function tarOf(
  files: { name: string; bytes: Uint8Array; mode?: number; mtime?: number }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const file of files) {
    parts.push(
      tarHeader({
        name: file.name,
        size: file.bytes.byteLength,
        mode: file.mode,
        mtime: file.mtime,
      }),
    );
    parts.push(file.bytes, tarPadding(file.bytes.byteLength));
  }
  parts.push(END_OF_ARCHIVE);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
