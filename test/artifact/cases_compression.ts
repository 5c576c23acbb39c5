/**
 * Broken artifacts, part one (b): payload sizes beyond 8 GiB, broken gzip, xz and zstd data,
 * and decompression bombs.
 */
import zlib from "node:zlib";
import { concat } from "../../src/streams.ts";
import { bombArtifact } from "./bomb.ts";
import type { BadCase } from "./case.ts";
import { bytes, compressed, craft, EOA, flip, paxEntry, tarEntry, tarHeader } from "./craft.ts";
import { at } from "../helpers/assert.ts";

/** An xz stream whose block header asks for a 4 GiB dictionary (checksum kept valid). */
async function xzHugeDictionary(data: Uint8Array): Promise<Uint8Array> {
  const xz = await compressed(data, "xz");
  const size = (at(xz, 12) + 1) * 4; // the block header size byte
  const props = xz.subarray(12, 12 + size).findIndex((b, i, a) => b === 0x21 && a[i + 1] === 0x01);
  xz[12 + props + 2] = 40;
  const crc = zlib.crc32(xz.subarray(12, 12 + size - 4));
  new DataView(xz.buffer, xz.byteOffset).setUint32(12 + size - 4, crc, true);
  return xz;
}

/**
 * Entries over 8 GiB (sizes in base-256 or PAX form, as no 11-digit octal field holds them),
 * cut short after 3 MiB (more than the tar decoder reads ahead, so the end of the input is
 * not in sight yet when the payload opens): the reader reports the declared size, then the
 * truncation.
 */
export async function hugeSizes(): Promise<BadCase[]> {
  const nine = 9 * 1024 ** 3;
  const body = new Uint8Array(3 * 1024 * 1024).fill(5);
  const huge = async (name: string, end: Uint8Array): Promise<BadCase> => ({
    name,
    bytes: await craft({ compression: "none", arrange: (list) => list.slice(0, 3), end }),
    code: "ARTIFACT_TRUNCATED",
    phase: "payload",
    declaredSize: nine,
  });
  return [
    await huge(
      "size: a 9 GiB payload in base-256 size fields, cut short",
      concat([
        tarHeader({ name: "data/0000.tar", size: nine + 1024 }),
        tarHeader({ name: "rootfs.img", size: nine }),
        body,
      ]),
    ),
    await huge(
      "size: a 9 GiB payload in PAX size records, cut short",
      concat([
        paxEntry({ size: String(nine + 2048) }),
        tarHeader({ name: "data/0000.tar", size: 0 }),
        paxEntry({ size: String(nine) }),
        tarHeader({ name: "rootfs.img", size: 0 }),
        body,
      ]),
    ),
  ];
}

export async function compression(): Promise<BadCase[]> {
  const file = { name: "rootfs.img", body: new Uint8Array(4096).fill(7) };
  const files = [file];
  const dataTar = concat([tarEntry("rootfs.img", file.body), EOA]);
  const gz = await compressed(dataTar, "gzip");
  const xz = await compressed(dataTar, "xz");
  const zst = await compressed(dataTar, "zstd");
  const junk = bytes("this is not compressed data at all ".repeat(20));
  const c = async (
    name: string,
    code: string,
    comp: "gzip" | "xz" | "zstd",
    recipe: Parameters<typeof craft>[0],
    extra: Partial<BadCase> = {},
  ): Promise<BadCase> => ({
    name,
    bytes: await craft({ compression: comp, files, ...recipe }),
    code,
    phase: "payload",
    ...extra,
  });
  return [
    await c("gzip: the payload member is not gzip", "GZIP_CORRUPT", "gzip", { dataMember: junk }),
    await c("gzip: the payload's gzip stream is cut short", "GZIP_CORRUPT", "gzip", {
      dataMember: gz.slice(0, gz.length - 9),
    }),
    await c("gzip: the header member is not gzip (manifest agrees)", "GZIP_CORRUPT", "gzip", {
      headerMember: junk,
    }, { phase: "open" }),
    await c("xz: the payload member is not xz", "XZ_CORRUPT", "xz", { dataMember: junk }),
    await c("xz: the payload's xz stream is cut short", "XZ_CORRUPT", "xz", {
      dataMember: xz.slice(0, xz.length - 30),
    }),
    await c("xz: a 4 GiB dictionary (over the decoder's memory limit)", "XZ_MEMLIMIT", "xz", {
      dataMember: await xzHugeDictionary(dataTar),
    }),
    await c("xz: the header member is not xz (manifest agrees)", "XZ_CORRUPT", "xz", {
      headerMember: junk,
    }, { phase: "open" }),
    await c("zstd: the payload member is not zstd", "ZSTD_CORRUPT", "zstd", { dataMember: junk }, {
      binaryOnly: true,
    }),
    await c("zstd: a byte inside the frame flipped", "ZSTD_CORRUPT", "zstd", {
      dataMember: flip(zst, 6, 0xff),
    }, { binaryOnly: true }),
    // zstd itself says nothing about a frame cut short; the payload tar inside it is incomplete.
    await c("zstd: the payload's zstd frame is cut short", "ARTIFACT_TRUNCATED", "zstd", {
      dataMember: zst.slice(0, 20),
    }),
    {
      name: "bomb (xz): 1 GiB of zeros refused by a 1 MiB payload limit",
      bytes: await bombArtifact("xz", 1024 ** 3),
      code: "LIMIT_EXCEEDED",
      phase: "payload",
      maxPayload: 1024 * 1024,
    },
    {
      name: "bomb (zstd): 1 GiB of zeros refused by a 1 MiB payload limit",
      bytes: await bombArtifact("zstd", 1024 ** 3),
      code: "LIMIT_EXCEEDED",
      phase: "payload",
      maxPayload: 1024 * 1024,
    },
    {
      name: "bomb (gzip): a tiny declared file, then 1 GiB of trailing zeros, with a 1 MiB limit",
      bytes: await bombArtifact("gzip", 64 * 1024 ** 2, {
        declared: 512,
        trailing: 1024 ** 3,
        listed: new Uint8Array(512),
      }),
      code: "LIMIT_EXCEEDED",
      phase: "payload",
      maxPayload: 1024 * 1024,
    },
  ];
}
