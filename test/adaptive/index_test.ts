/**
 * The index's format and its bounds: version 1 (the whole SHA-256 of every block, as ota
 * wrote it before) reads as version 2 does; other versions and indexes larger than a device
 * takes are refused with their own codes; the block size grows only when an image's index
 * would not fit; and an 8 GiB sparse image (made with truncate: its holes cost no disk) gets
 * an index of 4 KiB blocks that round-trips, decodes into a few MiB, and plans only what
 * changed.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  ADAPTIVE_KEY,
  type AdaptiveIndex,
  type AdaptiveIndexJson,
  blockHash,
  hashedCount,
  isZeroBlock,
  MAX_BLOCKS,
  MAX_INDEX_BYTES,
  pieceCount,
  readAdaptiveIndex,
} from "../../src/artifact/adaptive_index.ts";
import { fittingSizes, indexLength, zerosAt } from "../../src/artifact/adaptive_sizing.ts";
import { imagePieces, planAdaptive } from "../../src/artifact/adaptive_writer.ts";
import { verifyArtifact } from "../../src/artifact/reader.ts";
import { makePlan, sourceOf, ZERO } from "../../src/adaptive/plan.ts";
import { scanSlot } from "../../src/adaptive/scan.ts";
import { OtaError } from "../../src/errors.ts";
import { readFileStream } from "../../src/files.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { pseudoRandomBytes, tempDir } from "../helpers/mod.ts";
import { adaptiveArtifact, BLOCK, images, version1Of } from "./kit.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

async function indexOf(path: string): Promise<AdaptiveIndexJson> {
  const verified = await verifyArtifact(readFileStream(path));
  return verified.header.payloads[0]!.metaData![ADAPTIVE_KEY] as AdaptiveIndexJson;
}

const refused = (json: unknown, code: string) => {
  const error = assertThrows(() => readAdaptiveIndex({ [ADAPTIVE_KEY]: json }));
  assert(error instanceof OtaError && error.code === code, String(error));
};

Deno.test("index: version 1 reads as version 2, with its whole hashes; the plan is the same", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  const json = await indexOf(await adaptiveArtifact(dir.path, pair.newPath, "gzip"));
  const v2 = readAdaptiveIndex({ [ADAPTIVE_KEY]: json })!;
  const v1 = readAdaptiveIndex({ [ADAPTIVE_KEY]: version1Of(json, pair.new) })!;
  assertEquals([v1.hashBytes, v2.hashBytes], [32, 16]);
  assertEquals(v1.zeros, v2.zeros);
  assertEquals(hashedCount(v1), hashedCount(v2));
  for (let i = 0; i < Math.ceil(pair.new.length / BLOCK); i++) {
    assertEquals(blockHash(v1, i)?.subarray(0, 16), blockHash(v2, i));
  }
  const plan = async (index: AdaptiveIndex) =>
    makePlan(index, await scanSlot(pair.oldPath, index, pair.old.length), 0, index.dataSize);
  const [p1, p2] = [await plan(v1), await plan(v2)];
  assertEquals(p1.spans, p2.spans);
  for (let i = 0; i < Math.ceil(pair.new.length / BLOCK); i++) {
    assertEquals(sourceOf(v1, p1, i), sourceOf(v2, p2, i));
  }
});

Deno.test("index: an unknown version, and more blocks or pieces than a device takes, have codes", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  const json = await indexOf(await adaptiveArtifact(dir.path, pair.newPath, "gzip"));
  refused({ ...json, version: 3 }, "ADAPTIVE_INDEX_VERSION");
  refused({ version: 3 }, "ADAPTIVE_INDEX_VERSION");
  // refused from the declared size, before any field is decoded
  refused({ ...json, size: (MAX_BLOCKS + 1) * BLOCK }, "ADAPTIVE_INDEX_TOO_LARGE");
  refused({ ...json, size: 2 ** 52 }, "ADAPTIVE_INDEX_TOO_LARGE");
  refused({ ...json, piece_size: BLOCK, size: MAX_BLOCKS * BLOCK }, "ADAPTIVE_INDEX_TOO_LARGE");
  // as many blocks as allowed, every one of zeros: a bit each, nothing per block beyond
  const blocks = MAX_BLOCKS;
  const most = readAdaptiveIndex({
    [ADAPTIVE_KEY]: {
      ...json,
      compression: "none",
      lead: 512,
      pieces: undefined,
      size: blocks * BLOCK,
      data_size: 512 + blocks * BLOCK + 1024,
      zeros: Buffer.alloc(blocks / 8, 0xff).toString("base64"),
      hashes: "",
    },
  })!;
  const held = most.zeros.byteLength + most.ranks.byteLength + most.hashes.byteLength;
  assertEquals(held, blocks / 8 + blocks / 8);
});

Deno.test("sizes: the block size grows only when the index would not fit", () => {
  const requested = { blockSize: 4096, pieceSize: 65536 };
  const fits = (size: number, compression: "gzip" | "none", zeros = 0) =>
    fittingSizes(size, requested, compression, MAX_INDEX_BYTES, (b) => Math.floor(zeros / b));
  // up to about 2.9 GiB of data at 4 KiB blocks, any amount of zeros around it
  assertEquals(fits(2.5 * GiB, "gzip"), requested);
  assertEquals(fits(8 * GiB, "gzip", 6 * GiB), requested);
  // 8 GiB of data: 16 KiB blocks (gzip's pieces stay 64 KiB), within the header's budget
  assertEquals(fits(8 * GiB, "gzip"), { blockSize: 16384, pieceSize: 65536 });
  assertEquals(fits(8 * GiB, "none"), { blockSize: 16384, pieceSize: 16384 });
  const blocks = 8 * GiB / 16384;
  assert(indexLength(blocks, blocks, 8 * GiB / 65536) <= MAX_INDEX_BYTES);
  assert(indexLength(2 * blocks, 2 * blocks, 8 * GiB / 65536) > MAX_INDEX_BYTES);
  // 512 GiB of data takes 1 MiB blocks and pieces; 1 TiB does not fit at all
  assertEquals(fits(512 * GiB, "gzip"), { blockSize: 1 << 20, pieceSize: 1 << 20 });
  assertEquals(fits(1024 * GiB, "gzip"), undefined);
  // a smaller budget for small devices: larger blocks sooner
  assertEquals(
    fittingSizes(256 * MiB, requested, "gzip", 1 * MiB),
    { blockSize: 8192, pieceSize: 65536 },
  );
});

/** A sparse file of `size` bytes (truncate), with `parts` written at their offsets. */
async function sparse(path: string, size: number, parts: [number, Uint8Array][]) {
  const file = await Deno.open(path, { create: true, write: true, truncate: true });
  try {
    await file.truncate(size);
    for (const [at, bytes] of parts) {
      await file.seek(at, Deno.SeekMode.Start);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    }
  } finally {
    file.close();
  }
}

Deno.test("8 GiB sparse image: an index of 4 KiB blocks, round-tripped, a few MiB decoded, planned", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const size = 8 * GiB;
  const system = pseudoRandomBytes(4 * MiB, 1);
  const data = pseudoRandomBytes(2 * MiB, 2);
  const changed = pseudoRandomBytes(64 * 1024, 3);
  const last = pseudoRandomBytes(2 * MiB, 4);
  const near = 8 * GiB - 3 * MiB;
  // the new image: the same data, 64 KiB of it changed, and a MiB moved by one block
  await sparse(`${dir.path}/old.img`, size, [[0, system], [3 * GiB, data], [near, last]]);
  await sparse(`${dir.path}/new.img`, size, [
    [0, system],
    [3 * GiB, data],
    [3 * GiB + MiB, changed],
    [near + BLOCK, last.subarray(0, MiB)],
  ]);
  const requested = { blockSize: 4096, pieceSize: 65536 };
  const written = await planAdaptive(
    "rootfs.img",
    imagePieces({ name: "rootfs.img", path: `${dir.path}/new.img` }, requested.pieceSize),
    { ...requested, compression: "gzip", maxIndexBytes: MAX_INDEX_BYTES, mtime: 0 },
  );
  const text = JSON.stringify(written.index);
  assert(text.length < 2 * MiB, `${text.length} bytes of index`);
  const index = readAdaptiveIndex(JSON.parse(JSON.stringify({ [ADAPTIVE_KEY]: written.index })))!;
  assertEquals(index.size, size);
  // what the writer checks first: all 2 Mi blocks hashed would not fit, its blocks of zeros
  // as bits do, at 4 KiB blocks
  const zeros = { bits: index.zeros, blocks: size / BLOCK };
  assertEquals(fittingSizes(size, requested, "gzip", MAX_INDEX_BYTES)?.blockSize, 16384);
  assertEquals(
    fittingSizes(size, requested, "gzip", MAX_INDEX_BYTES, (b) => zerosAt(zeros, b / BLOCK)),
    requested,
  );
  // 2 Mi blocks: a bit each, 8 bytes per piece, 16 bytes per block of data
  const held = index.zeros.byteLength + index.ranks.byteLength + index.hashes.byteLength +
    index.offsets!.byteLength;
  assert(held < 2 * MiB, `${held} bytes held for the index`);
  assertEquals(hashedCount(index), (4 + 2 + 1) * MiB / BLOCK);
  const next = await Deno.open(`${dir.path}/new.img`);
  const block = new Uint8Array(BLOCK);
  for (const i of [0, 3 * GiB / BLOCK, (3 * GiB + MiB) / BLOCK, (near + BLOCK) / BLOCK]) {
    await next.seek(i * BLOCK, Deno.SeekMode.Start);
    await next.read(block);
    const hash = createHash("sha256").update(block).digest().subarray(0, 16);
    assertEquals(blockHash(index, i), new Uint8Array(hash), `block ${i}`);
  }
  next.close();
  assert(isZeroBlock(index, 1 * GiB / BLOCK));

  const scan = await scanSlot(`${dir.path}/old.img`, index, size);
  const plan = makePlan(index, scan, 0, index.dataSize);
  const fetched = [...plan.fetched].flatMap((f, p) => f ? [p] : []);
  assertEquals(fetched, [(3 * GiB + MiB) / 65536], "the changed 64 KiB, no more");
  for (let i = 1; i < 256; i++) {
    const at = near + BLOCK * i;
    assertEquals(sourceOf(index, plan, at / BLOCK), at - BLOCK, `moved block ${i}`);
  }
  assertEquals(sourceOf(index, plan, 2 * GiB / BLOCK), ZERO);
  assertEquals(pieceCount(index), size / 65536);
});
