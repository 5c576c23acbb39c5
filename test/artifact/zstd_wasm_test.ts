/**
 * zstd through its WebAssembly build (what Node 20 runs: the armv7 executable, ota.js on an
 * older Node), from source and forced where node:zlib has zstd, against the real `zstd` CLI:
 * what the CLI writes at levels 1, 3, 19 and with --long=27 decodes to the same bytes, what
 * this writes the CLI decodes, several frames read as one stream, empty input, and 256 MiB
 * both ways, streamed.
 */
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { compress, decompress, useZstdWasm } from "../../src/artifact/compression.ts";
import { zstdWasmCompress, zstdWasmDecompress } from "../../src/artifact/zstd_wasm.ts";
import { OtaError } from "../../src/errors.ts";
import { type ByteStream, concat, streamOf } from "../../src/streams.ts";
import { buildZstdWasm } from "../../scripts/zstd_wasm.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { compressible, frameWindow, zstdBytes, zstdPipe } from "../helpers/zstd_cli.ts";

await buildZstdWasm();

const MiB = 1024 * 1024;
const collect = async (stream: ByteStream) =>
  new Uint8Array(await new Response(stream).arrayBuffer());
const payload = await collect(compressible(8 * MiB, 5));
/** Level 19 is slow (8 s a MiB for the CLI here): 2 MiB for it. */
const input = (level: string) => level === "-19" ? payload.subarray(0, 2 * MiB) : payload;

/** Bytes as a stream of uneven chunks, as a file or a socket would hand them over. */
function uneven(bytes: Uint8Array, size = 100_003): ByteStream {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at += size));
    },
  });
}

for (const args of [["-1"], ["-3"], ["-19"], ["-3", "--long=27"]]) {
  Deno.test(`zstd ${args.join(" ")} (the CLI) -> the WebAssembly decoder`, async () => {
    const original = input(args[0]!);
    const frame = await zstdBytes(args, original);
    if (args.includes("--long=27")) {
      // from stdin, with no size in the header: the decoder must hold the whole 128 MiB window
      assertEquals(frameWindow(frame), 128 * MiB);
    }
    const decoded = await collect(zstdWasmDecompress(uneven(frame)));
    assertEquals(decoded.byteLength, original.byteLength);
    assert(Buffer.compare(decoded, original) === 0, "the decoded bytes differ");
  });
}

for (const level of [1, 3, 19]) {
  Deno.test(`the WebAssembly encoder at level ${level} -> zstd -d (the CLI)`, async () => {
    const original = input(`-${level}`);
    const frame = await collect(zstdWasmCompress(uneven(original), level));
    // the same level as the CLI's: a frame of about the same size
    const cli = await zstdBytes([`-${level}`, "--no-check"], original);
    const ratio = frame.byteLength / cli.byteLength;
    assert(ratio > 0.98 && ratio < 1.02, `${frame.byteLength} bytes, the CLI's ${cli.byteLength}`);
    const decoded = await zstdBytes(["-d"], frame);
    assert(Buffer.compare(decoded, original) === 0, "zstd -d gives other bytes");
  });
}

Deno.test("compress and decompress take the WebAssembly path when told to", async () => {
  const small = payload.subarray(0, MiB);
  // the WebAssembly decoder finds a frame cut short inside its checksum, node:zlib does not
  const cut = (await zstdBytes(["-3"], small)).subarray(0, -2);
  const inflate = () => collect(decompress(streamOf(cut), "zstd", { xzMemlimit: 0 }));
  assertEquals((await inflate()).byteLength, small.byteLength);
  useZstdWasm(true);
  try {
    const error = await assertRejects(inflate);
    assert(error instanceof OtaError && error.code === "ZSTD_CORRUPT", String(error));
    assertMatch(error.message, /truncated/);
    const frame = await collect(compress(streamOf(small), "zstd", { level: 9 }));
    // ota's level 9 is zstd's 19: the CLI at -19 writes a frame of about the same size
    const cli = await zstdBytes(["-19", "--no-check"], small);
    assert(Math.abs(frame.byteLength - cli.byteLength) < cli.byteLength / 50, "not level 19");
    const back = await collect(decompress(streamOf(frame), "zstd", { xzMemlimit: 0 }));
    assert(Buffer.compare(back, small) === 0);
  } finally {
    useZstdWasm(false);
  }
});

Deno.test("several frames, skippable ones among them, are one stream, as zstd -d reads them", async () => {
  const a = pseudoRandomBytes(300_000, 1), b = payload.subarray(0, 2 * MiB);
  const skippable = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]);
  const input = concat([
    await zstdBytes(["-1"], a),
    skippable,
    await zstdBytes(["-19"], b),
    await zstdBytes(["-3"], new Uint8Array(0)),
    await zstdBytes(["-3", "--no-check"], a),
  ]);
  const expected = await zstdBytes(["-d"], input);
  assertEquals(expected.byteLength, 2 * a.byteLength + b.byteLength);
  const decoded = await collect(zstdWasmDecompress(uneven(input, 4096)));
  assert(Buffer.compare(decoded, expected) === 0, "not what zstd -d makes of it");
});

Deno.test("empty input: an empty frame both ways, and no bytes at all is no output", async () => {
  const cliFrame = await zstdBytes(["-3"], new Uint8Array(0));
  assertEquals((await collect(zstdWasmDecompress(streamOf(cliFrame)))).byteLength, 0);
  const frame = await collect(zstdWasmCompress(streamOf(), 3));
  assert(frame.byteLength > 0, "no frame for empty input");
  assertEquals((await zstdBytes(["-d"], frame)).byteLength, 0);
  // no frame at all: nothing, as node:zlib has it (zstd -d calls it an error)
  assertEquals(zlib.zstdDecompressSync(new Uint8Array(0)).byteLength, 0);
  assertEquals((await collect(zstdWasmDecompress(streamOf()))).byteLength, 0);
});

/** sha256 and length of a stream, read to the end. */
async function digest(stream: ByteStream): Promise<{ sha: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha: hash.digest("hex"), bytes };
}

/** A stream's copy that also feeds a digest. */
function tee(stream: ByteStream): [ByteStream, Promise<{ sha: string; bytes: number }>] {
  const [a, b] = stream.tee();
  return [a, digest(b)];
}

Deno.test("256 MiB, streamed: the CLI's frame decodes, and the CLI decodes ours", async () => {
  const size = 256 * MiB;
  // the CLI compresses, the WebAssembly decoder decodes
  const [toCli, original] = tee(compressible(size, 9));
  const cli = zstdPipe(["-3"], toCli);
  const decoded = await digest(zstdWasmDecompress(cli.stdout));
  assertEquals((await cli.status).code, 0);
  assertEquals(decoded, await original);
  assertEquals(decoded.bytes, size);
  // the WebAssembly encoder compresses, the CLI decodes
  const [toWasm, again] = tee(compressible(size, 9));
  const back = zstdPipe(["-d"], zstdWasmCompress(toWasm, 3));
  const roundTrip = await digest(back.stdout);
  assertEquals((await back.status).code, 0);
  assertEquals(roundTrip, await again);
});
