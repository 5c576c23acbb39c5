/**
 * The running slot's blocks found by content (a run that moved by three blocks is found
 * where it is now), zeros never read, fetched pieces close together merged into one request
 * with the tail last; and an index that does not add up refused with its own code.
 */
import { Buffer } from "node:buffer";
import {
  ADAPTIVE_KEY,
  type AdaptiveIndexJson,
  pieceStart,
  readAdaptiveIndex,
} from "../../src/artifact/adaptive_index.ts";
import { verifyArtifact } from "../../src/artifact/reader.ts";
import { FETCH, makePlan, MAX_GAP, sourceOf, ZERO } from "../../src/adaptive/plan.ts";
import { scanSlot } from "../../src/adaptive/scan.ts";
import { OtaError } from "../../src/errors.ts";
import { readFileStream } from "../../src/files.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { tempDir } from "../helpers/mod.ts";
import { adaptiveArtifact, BLOCK, images } from "./kit.ts";

/** A base64 bitmap with bit `i` flipped. */
function flipBit(base64: string, i: number): string {
  const bytes = Buffer.from(base64, "base64");
  bytes[i >> 3]! ^= 1 << (i & 7);
  return bytes.toString("base64");
}

async function indexOf(path: string): Promise<AdaptiveIndexJson> {
  const verified = await verifyArtifact(readFileStream(path));
  return verified.header.payloads[0]!.metaData![ADAPTIVE_KEY] as AdaptiveIndexJson;
}

Deno.test("plan: blocks by content, zeros made, nearby pieces in one request, the tail last", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  const index = readAdaptiveIndex({
    [ADAPTIVE_KEY]: await indexOf(await adaptiveArtifact(dir.path, pair.newPath, "gzip")),
  })!;
  const scan = await scanSlot(pair.oldPath, index, pair.old.length);
  const plan = makePlan(index, scan, 10_000, 10_000 + index.dataSize + 1536);
  // the run moved from block 500 to 503 is copied from where it was
  const source = (i: number) => sourceOf(index, plan, i);
  for (let i = 503; i < 543; i++) assertEquals(source(i), (i - 3) * BLOCK);
  for (let i = 700; i < 900; i++) assertEquals(source(i), ZERO);
  for (let i = 100; i < 108; i++) assertEquals(source(i), FETCH);
  assertEquals(source(1024), FETCH, "the new short last block");
  // pieces of 16 blocks: 6 (blocks 96-111), 15 and 16 (240-271), 25 (400-415), the last (64)
  assertEquals([...plan.fetched].flatMap((f, p) => f ? [p] : []), [6, 15, 16, 25, 64]);
  assertEquals(plan.spans.map((s) => [s.first, s.last]), [[6, 6], [15, 16], [25, 25], [64, 65]]);
  assertEquals(plan.spans.at(-1)!.end, 10_000 + index.dataSize + 1536);
  assertEquals(plan.reused, index.size - 4 * 16 * BLOCK - 1000);

  // closer than MAX_GAP apart in the artifact: one request, the pieces between fetched too
  const near = makePlan(index, scan, 0, index.dataSize + 1536, 1 << 30);
  assertEquals(near.spans.length, 1);
  assert(near.fetched.slice(6).every(Boolean) && !near.fetched.slice(0, 6).some(Boolean));
  assert(MAX_GAP < pieceStart(index, 15) - pieceStart(index, 7));
});

Deno.test("index: one that does not add up is refused; none is no index", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  const good = await indexOf(await adaptiveArtifact(dir.path, pair.newPath, "gzip"));
  assertEquals(readAdaptiveIndex(undefined), undefined);
  assertEquals(readAdaptiveIndex({ other: 1 }), undefined);
  assertEquals(readAdaptiveIndex({ [ADAPTIVE_KEY]: good })?.size, pair.new.length);
  const bad: [string, Partial<AdaptiveIndexJson> & Record<string, unknown>][] = [
    ["a hash short", { hashes: good.hashes.slice(0, -44) }],
    ["a piece short", { pieces: good.pieces!.slice(0, -8) }],
    ["no lead", { lead: 0 }],
    ["a block size not a power of two", { block_size: 3000 }],
    ["pieces not whole blocks", { piece_size: BLOCK * 2 + 512 }],
    ["an unknown compression", { compression: "zstd" as "gzip" }],
    ["an unknown key", { extra: true }],
    ["a data member too short", { data_size: 100 }],
    ["a block of zeros more", { zeros: flipBit(good.zeros, 5) }],
    ["a block of zeros past the image", { zeros: flipBit(good.zeros, 1024) }],
    ["a zeros bitmap short", { zeros: good.zeros.slice(0, -4) }],
    ["a version as text", { version: "2" as unknown as 2 }],
  ];
  for (const [what, change] of bad) {
    const error = assertThrows(() => readAdaptiveIndex({ [ADAPTIVE_KEY]: { ...good, ...change } }));
    assert(
      error instanceof OtaError && error.code === "ADAPTIVE_INDEX_INVALID",
      `${what}: ${error}`,
    );
  }
});
