/**
 * gzip in parallel blocks (src/artifact/gzip_blocks.ts): the members read back, with
 * node:zlib's gunzip and with ota's own decompressor, as the bytes that went in, whatever
 * the chunking; a block that does not compress is stored, one that does is deflated.
 */
import { gunzipSync, inflateRawSync } from "node:zlib";
import { decompress } from "../../src/artifact/compression.ts";
import { gzipBlock, gzipBlocks } from "../../src/artifact/gzip_blocks.ts";
import { concat, drain, readAll, streamOf } from "../../src/streams.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";

const MiB = 1024 * 1024;

/**
 * The sizes and first deflate block types (0 stored, 1 fixed, 2 dynamic Huffman) of the
 * members of a gzip stream, as Python's zlib (an independent reader) finds them.
 */
async function members(gz: Uint8Array): Promise<{ size: number; type: number }[]> {
  const script = `
import sys, zlib, json
data = sys.stdin.buffer.read()
out = []
while data:
    d = zlib.decompressobj(31)
    d.decompress(data)
    assert d.eof, "a member is cut off"
    size = len(data) - len(d.unused_data)
    assert data[3] == 0, "no optional header fields"
    out.append({"size": size, "type": (data[10] >> 1) & 3})
    data = d.unused_data
print(json.dumps(out))
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(gz);
  await writer.close();
  const { code, stdout } = await child.output();
  assertEquals(code, 0, "python3 reads the members");
  return JSON.parse(new TextDecoder().decode(stdout));
}

const data = concat([
  pseudoRandomBytes(MiB, 1),
  new Uint8Array(MiB),
  new TextEncoder().encode("text that repeats, ".repeat(20_000)),
  pseudoRandomBytes(300_000, 2),
]);

async function compressed(chunks: Uint8Array[]): Promise<Uint8Array> {
  return await readAll(gzipBlocks(streamOf(...chunks), 6, 3), 64 * MiB, "gzip");
}

Deno.test("the members are one gzip stream of the bytes that went in, however they came", async () => {
  for (const size of [MiB, 256 * 1024, 100_000, 512, 3 * MiB]) {
    const chunks = [];
    for (let at = 0; at < data.byteLength; at += size) chunks.push(data.subarray(at, at + size));
    const gz = await compressed(chunks);
    assertEquals(gunzipSync(gz), Buffer.from(data), `chunks of ${size}`);
    const ours = await readAll(
      decompress(streamOf(gz), "gzip", { xzMemlimit: 0 }),
      64 * MiB,
      "inflated",
    );
    assertEquals(ours, data, `chunks of ${size}, read by ota`);
    assert((await members(gz)).length >= 3, `several members for chunks of ${size}`);
  }
});

Deno.test("an empty input is one empty member", async () => {
  const gz = await compressed([]);
  assertEquals((await members(gz)).length, 1);
  assertEquals(gunzipSync(gz).byteLength, 0);
});

Deno.test("data that does not compress is stored; data that does is deflated", async () => {
  const random = concat(await gzipBlock(pseudoRandomBytes(MiB, 5), 6));
  assertEquals((await members(random))[0]!.type, 0, "random bytes are stored");
  assert(random.byteLength < MiB + 200, `stored with little overhead: ${random.byteLength}`);
  const text = concat(await gzipBlock(data.subarray(2 * MiB, 2 * MiB + 380_000), 6));
  assertEquals((await members(text))[0]!.type, 2, "text is deflated");
  assert(text.byteLength < 10_000, `text shrinks: ${text.byteLength}`);
  // random bytes with a compressible stretch in the middle: a sample lands in it
  const mixed = concat([
    pseudoRandomBytes(400_000, 6),
    new Uint8Array(248_576),
    pseudoRandomBytes(400_000, 7),
  ]);
  assert(
    concat(await gzipBlock(mixed, 6)).byteLength < 900_000,
    "a block with zeros in it is deflated",
  );
  assertEquals(inflateRawSync(random.subarray(10, -8)).byteLength, MiB);
});

Deno.test("a failing input ends the stream with the input's error", async () => {
  const failing = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(pseudoRandomBytes(300_000, 9));
    },
    pull(controller) {
      controller.error(new Error("the disk went away"));
    },
  });
  let error: unknown;
  await drain(gzipBlocks(failing)).catch((e) => (error = e));
  assert(String(error).includes("the disk went away"), String(error));
});
