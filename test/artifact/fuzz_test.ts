/**
 * Bounded fuzzing of the artifact reader: mutations (byte flips, truncations, insertions,
 * removals, swapped, duplicated and dropped members) of real artifacts from mender-artifact
 * 3.9 and ota, a fixed number of runs from a fixed seed. The property: the reader either
 * accepts and hands out exactly the original payload, or fails with an OtaError that has a
 * code; never another exception, never a hang (a time limit per run), never a memory
 * blow-up. zstd seeds go through the compiled binary (Bun, what ships): Deno's node:zlib
 * throws some zstd errors from a timer, outside any stream, which no reader can catch.
 */
import fc from "fast-check";
import { openArtifact, type ReadOptions } from "../../src/artifact/reader.ts";
import { OtaError } from "../../src/errors.ts";
import { readAll, streamOf } from "../../src/streams.ts";
import { assert, assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { ota } from "../helpers/mod.ts";
import { bytes, craft } from "./craft.ts";
import { applyMutation, mutation } from "./mutate.ts";
import { makeSeeds } from "./seeds.ts";

const seeds = await makeSeeds();
globalThis.addEventListener("unload", () => Deno.removeSync(seeds.dir, { recursive: true }));

interface Seed {
  name: string;
  bytes: Uint8Array;
  files: { name: string; body: Uint8Array }[];
  options?: ReadOptions;
}

const image = [{ name: "rootfs.img", body: seeds.image }];
const small = [{ name: "rootfs.img", body: bytes("a small root fs\n") }];
const librarySeeds: Seed[] = [
  {
    name: "mender-artifact gzip, signed (key configured)",
    bytes: seeds.gzipSigned,
    files: image,
    options: { verifyKeys: [seeds.keys.rsa.verify] },
  },
  { name: "mender-artifact xz", bytes: seeds.xz, files: image },
  { name: "mender-artifact none", bytes: seeds.none, files: image },
  {
    name: "mender-artifact module-image",
    bytes: seeds.module,
    files: [
      { name: "f1.txt", body: await Deno.readFile(`${seeds.dir}/f1.txt`) },
      { name: "f2.bin", body: await Deno.readFile(`${seeds.dir}/f2.bin`) },
    ],
  },
  { name: "ota gzip, small", bytes: await craft(), files: small },
];

const RUN_LIMIT_MS = 10_000;
const MEMORY_LIMIT = 768 * 1024 * 1024;

async function withTimeLimit<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${RUN_LIMIT_MS} ms`)),
      RUN_LIMIT_MS,
    );
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads everything; resolves with the payload files, or rejects with what the reader threw. */
async function readThrough(data: Uint8Array, options?: ReadOptions) {
  const artifact = await openArtifact(streamOf(data), options);
  const files: { name: string; body: Uint8Array }[] = [];
  try {
    for await (const payload of artifact.payloads()) {
      for await (const file of payload.files()) {
        files.push({ name: file.name, body: await readAll(file.stream, 1 << 24, file.name) });
      }
    }
    await artifact.finish();
  } catch (error) {
    await artifact.cancel(error);
    throw error;
  }
  return files;
}

Deno.test("fuzz: mutated artifacts are read correctly or refused with a coded OtaError", async () => {
  const codes = new Map<string, number>();
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: librarySeeds.length - 1 }), mutation, async (which, m) => {
      const seed = at(librarySeeds, which);
      const data = await applyMutation(seed.bytes, m);
      try {
        const files = await withTimeLimit(readThrough(data, seed.options), seed.name);
        assertEquals(files, seed.files, "accepted, but with other payload bytes");
        accepted++;
      } catch (error) {
        if (!(error instanceof OtaError)) throw error;
        assertMatch(error.code, /^[A-Z][A-Z0-9_]+$/);
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
      const { rss } = Deno.memoryUsage();
      assert(rss < MEMORY_LIMIT, `resident memory grew to ${rss >> 20} MiB`);
    }),
    { numRuns: 600, seed: 20250611, endOnFailure: true },
  );
  // The runs must reach past the first check, or the fuzzing proves little.
  assert(codes.size >= 8, `only these errors were reached: ${[...codes.keys()].join(", ")}`);
  console.log(
    `accepted ${accepted}; refused: ${[...codes].map(([c, n]) => `${c} ${n}`).join(", ")}`,
  );
});

Deno.test("fuzz: mutated zstd and signed artifacts through the compiled binary", async () => {
  const path = `${seeds.dir}/fuzz.mender`;
  const binarySeeds = [
    { bytes: seeds.zstd, args: [] as string[] },
    { bytes: seeds.gzipEc, args: ["-k", seeds.keys.ec.pair.public] },
  ];
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: binarySeeds.length - 1 }), mutation, async (which, m) => {
      const seed = at(binarySeeds, which);
      await Deno.writeFile(path, await applyMutation(seed.bytes, m));
      const result = await ota(["artifact", "validate", ...seed.args, path]);
      if (result.code === 0) return;
      assertEquals(result.code, 1, result.stderr);
      assert(!/^\s+at /m.test(result.stderr), result.stderr);
      assertMatch(result.stderr, /^ota: \S[^\n]* \[[A-Z][A-Z0-9_]+\]\n$/);
    }),
    { numRuns: 60, seed: 20250612, endOnFailure: true },
  );
});
