/**
 * The adaptive payload as written: the data member is one stream for standard decoders (the
 * real gzip and zstd tools, then tar, give back the image), every piece decompresses on its
 * own at the offset the index gives, the index's block hashes are the image's, and ota's
 * reader verifies the artifact as any other. What cannot be fetched by piece is refused.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import {
  blockHash,
  pieceCount,
  pieceSpan,
  pieceStart,
  readAdaptiveIndex,
} from "../../src/artifact/adaptive_index.ts";
import { verifyArtifact } from "../../src/artifact/reader.ts";
import { readFileStream } from "../../src/files.ts";
import { OtaError } from "../../src/errors.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { tempDir } from "../helpers/mod.ts";
import { adaptiveArtifact, BLOCK, images, members } from "./kit.ts";

const decoders = { gzip: ["gzip", "-dc"], none: ["cat"] } as const;

for (const compression of ["none", "gzip"] as const) {
  Deno.test(`adaptive ${compression}: one stream for standard decoders, pieces alone, the index`, async () => {
    await using dir = await tempDir("ota-adaptive-");
    const pair = await images(dir.path);
    const path = await adaptiveArtifact(dir.path, pair.newPath, compression);
    const verified = await verifyArtifact(readFileStream(path));
    const index = readAdaptiveIndex(verified.header.payloads[0]!.metaData)!;
    assertEquals(index.size, pair.new.length);
    assertEquals(index.compression, compression);

    const artifact = await Deno.readFile(path);
    const suffix = compression === "gzip" ? ".gz" : "";
    const data = members(artifact).get(`data/0000.tar${suffix}`)!;
    assertEquals(data.bytes.length, index.dataSize);
    // the real decompressor, then the real tar, read the whole member as one stream
    const member = `${dir.path}/data.bin`;
    await Deno.writeFile(member, data.bytes);
    const script = `${decoders[compression].join(" ")} < ${member} | tar -xOf - rootfs.img`;
    const extracted = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" })
      .output();
    assertEquals(extracted.code, 0);
    assertEquals(
      createHash("sha256").update(extracted.stdout).digest("hex"),
      verified.manifest.get("data/0000/rootfs.img"),
    );

    // each piece alone, at its offset, gives its image bytes; each block its indexed hash
    for (let p = 0; p < pieceCount(index); p++) {
      const stored = data.bytes.subarray(pieceStart(index, p), pieceStart(index, p + 1));
      const image = compression === "none" ? stored : zlib.gunzipSync(stored);
      const { start, end } = pieceSpan(index, p);
      assertEquals(new Uint8Array(image), pair.new.subarray(start, end), `piece ${p}`);
    }
    // blocks of zeros (200 of them) are marked, the others have their SHA-256's first bytes
    let zeros = 0;
    for (let i = 0; i * BLOCK < pair.new.length; i++) {
      const block = pair.new.subarray(i * BLOCK, (i + 1) * BLOCK);
      const hash = blockHash(index, i);
      if (!hash) {
        assert(block.length === BLOCK && block.every((b) => b === 0), `block ${i} is not zeros`);
        zeros++;
        continue;
      }
      assertEquals(
        Buffer.from(hash).toString("hex"),
        createHash("sha256").update(block).digest("hex").slice(0, 32),
      );
    }
    assertEquals(zeros, 200);
    // uncompressed, the header is still gzipped: the index is mostly hashes of zeros
    assert(members(artifact).has("header.tar.gz"));
  });
}

Deno.test("adaptive: xz, zstd and odd piece sizes are refused before anything is written", async () => {
  await using dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  for (const compression of ["xz", "zstd"] as const) {
    const refused = await assertRejects(() =>
      adaptiveArtifact(dir.path, pair.newPath, compression)
    );
    assert(refused instanceof OtaError && refused.code === "BAD_ARGUMENTS", String(refused));
  }
  const odd = await assertRejects(() =>
    adaptiveArtifact(dir.path, pair.newPath, "gzip", { pieceSize: BLOCK * 3 + 512 })
  );
  assert(odd instanceof OtaError && odd.code === "BAD_ARGUMENTS", String(odd));
  const files = [...Deno.readDirSync(dir.path)].map((e) => e.name).filter((n) =>
    n.endsWith(".mender") || n.includes(".tmp")
  );
  assertEquals(files, []);
});
