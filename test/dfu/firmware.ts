/**
 * Firmware images for the virtual board (format in board/dfu_board.c): a header with the
 * version and a CRC-32 of the body, which the board checks before it boots an image.
 */
import { crc32 } from "node:zlib";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { xorAt } from "../helpers/assert.ts";

const MAGIC = new TextEncoder().encode("OTAFW1\0\0");
export const HEADER = 48;

export interface FirmwareOptions {
  /** Body length in bytes (default 20000). */
  size?: number;
  /** Flip one body byte after the CRC is computed: the board refuses to boot it. */
  corrupt?: boolean;
}

export function makeFirmware(version: string, options: FirmwareOptions = {}): Uint8Array {
  const size = options.size ?? 20000;
  const body = pseudoRandomBytes(size, [...version].reduce((a, c) => a * 31 + c.charCodeAt(0), 7));
  const out = new Uint8Array(HEADER + size);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, size, true);
  view.setUint32(12, crc32(body) >>> 0, true);
  out.set(new TextEncoder().encode(version).slice(0, 32), 16);
  out.set(body, HEADER);
  if (options.corrupt) xorAt(out, HEADER + Math.floor(size / 2), 0xff);
  return out;
}

export interface FlashContent {
  /** Version in the image header, or undefined when the flash holds no image header. */
  version?: string;
  /** True when the header's CRC matches the body: the board would boot it. */
  bootable: boolean;
  /** The image (header and body) as found, or the whole flash when there is no header. */
  image: Uint8Array;
  /** True when every byte is 0xFF (erased). */
  erased: boolean;
}

/** Reads what a flash dump holds, the way the board's boot check does. */
export function readFlash(flash: Uint8Array): FlashContent {
  const erased = flash.every((b) => b === 0xff);
  const hasMagic = MAGIC.every((b, i) => flash[i] === b);
  if (!hasMagic) return { bootable: false, image: flash, erased };
  const view = new DataView(flash.buffer, flash.byteOffset, flash.byteLength);
  const size = view.getUint32(8, true);
  if (HEADER + size > flash.length) return { bootable: false, image: flash, erased };
  const body = flash.subarray(HEADER, HEADER + size);
  const raw = flash.subarray(16, 48);
  const end = raw.indexOf(0);
  const version = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
  return {
    version,
    bootable: (crc32(body) >>> 0) === view.getUint32(12, true),
    image: flash.subarray(0, HEADER + size),
    erased,
  };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
