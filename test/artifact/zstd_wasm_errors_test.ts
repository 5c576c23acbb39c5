/**
 * zstd's WebAssembly build on bad input, from source and forced where node:zlib has zstd:
 * corrupt and truncated frames give coded errors where `zstd -d` fails too, a window over the
 * limit is refused (as node:zlib refuses it), output comes in bounded pieces only as it is
 * read, and a bomb inside an artifact stops at the reader's payload limit.
 */
import { decompress, useZstdWasm } from "../../src/artifact/compression.ts";
import { openArtifact } from "../../src/artifact/reader.ts";
import { zstdWasmDecompress } from "../../src/artifact/zstd_wasm.ts";
import { OtaError } from "../../src/errors.ts";
import { type ByteStream, concat, counting, drain, streamOf } from "../../src/streams.ts";
import { buildZstdWasm } from "../../scripts/zstd_wasm.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { frameWindow, zstdBytes, zstdDecodes } from "../helpers/zstd_cli.ts";
import { craft, EOA, tarHeader } from "./craft.ts";

await buildZstdWasm();

const MiB = 1024 * 1024;
const data = pseudoRandomBytes(700_000, 4);
/** The CLI's default frame: with a content checksum. */
const frame = await zstdBytes(["-3"], concat([data, data]));

/** What the WebAssembly decoder makes of `input`: its error, which must carry a code. */
async function failure(input: Uint8Array): Promise<OtaError> {
  const error = await assertRejects(() => drain(zstdWasmDecompress(streamOf(input))));
  assert(error instanceof OtaError, `not an OtaError: ${error}`);
  return error;
}

Deno.test("corrupt zstd is ZSTD_CORRUPT, where zstd -d fails too", async () => {
  const flipped = frame.slice();
  flipped[Math.floor(frame.byteLength / 2)]! ^= 0x40;
  const cases: [string, Uint8Array][] = [
    ["not zstd", new TextEncoder().encode("this is not compressed data at all ".repeat(20))],
    ["a byte flipped inside the frame", flipped],
    [
      "the content checksum wrong",
      concat([frame.subarray(0, -1), new Uint8Array([~frame.at(-1)!])]),
    ],
    ["junk after the frame", concat([frame, new TextEncoder().encode("junk")])],
  ];
  for (const [what, input] of cases) {
    const cli = await zstdDecodes(input);
    assert(!cli.ok, `zstd -d accepted ${what}`);
    const error = await failure(input);
    assertEquals(error.code, "ZSTD_CORRUPT", `${what}: ${error.message}`);
    assertMatch(error.message, /^zstd data: \S/);
  }
});

Deno.test("a frame cut short anywhere is ZSTD_CORRUPT: truncated, as zstd -d says", async () => {
  for (const end of [2, 9, 5000, frame.byteLength - 2]) {
    const cut = frame.subarray(0, end);
    const cli = await zstdDecodes(cut);
    assert(!cli.ok, `zstd -d accepted ${end} bytes`);
    const error = await failure(cut);
    assertEquals(error.code, "ZSTD_CORRUPT", error.message);
    assertMatch(error.message, /truncated/);
  }
  // the second of two frames cut short: the first one's bytes came out before the error
  const two = concat([frame, frame.subarray(0, 5000)]);
  let seen = 0;
  await assertRejects(async () => {
    for await (const chunk of zstdWasmDecompress(streamOf(two))) seen += chunk.byteLength;
  });
  assert(seen >= 2 * data.byteLength, `only ${seen} bytes before the error`);
});

Deno.test("a window over 128 MiB is ZSTD_WINDOW_TOO_LARGE on both paths, as zstd -d refuses it", async () => {
  const small = data.subarray(0, 100_000);
  const long28 = await zstdBytes(["-3", "--long=28"], small);
  assertEquals(frameWindow(long28), 256 * MiB);
  const cli = await zstdDecodes(long28);
  assert(!cli.ok, "zstd -d decoded a 256 MiB window without --long=28");
  assertMatch(cli.stderr, /Window size larger than maximum/);
  for (const wasm of [true, false]) {
    useZstdWasm(wasm);
    try {
      const error = await assertRejects(() =>
        drain(decompress(streamOf(long28), "zstd", { xzMemlimit: 0 }))
      );
      assert(error instanceof OtaError, String(error));
      assertEquals(error.code, "ZSTD_WINDOW_TOO_LARGE", `${wasm ? "wasm" : "node:zlib"}`);
    } finally {
      useZstdWasm(false);
    }
  }
  // 128 MiB itself is accepted
  const long27 = await zstdBytes(["-3", "--long=27"], small);
  assertEquals(frameWindow(long27), 128 * MiB);
  assertEquals(await drain(zstdWasmDecompress(streamOf(long27))), small.byteLength);
});

/** One CLI frame of 64 MiB of zeros (2 KiB), `count` times, each handed over when asked for. */
async function zeroFrames(count: number, pulled: { frames: number }): Promise<ByteStream> {
  const zeros = await zstdBytes(["-3"], new Uint8Array(64 * MiB));
  return new ReadableStream({
    pull(controller) {
      if (pulled.frames === count) return controller.close();
      pulled.frames++;
      controller.enqueue(zeros);
    },
  }, { highWaterMark: 0 });
}

Deno.test("output comes in pieces of at most 256 KiB, and input is read only as it is taken", async () => {
  const pulled = { frames: 0 };
  const reader = zstdWasmDecompress(await zeroFrames(64, pulled)).getReader();
  let out = 0;
  for (let i = 0; i < 400; i++) {
    const next = await reader.read();
    assert(!next.done);
    assert(next.value.byteLength <= 256 * 1024, `a piece of ${next.value.byteLength} bytes`);
    out += next.value.byteLength;
  }
  // 100 MiB out: two frames of 64 MiB taken, not the 64 on offer
  assert(out >= 100 * MiB, `${out}`);
  assertEquals(pulled.frames, 2);
  await reader.cancel();
});

Deno.test("a zstd bomb in an artifact stops at the payload limit, reading little of it", async () => {
  useZstdWasm(true);
  try {
    // the payload tar as the CLI compresses it: a file declared 64 GiB, then its zeros
    const frames = 1024;
    const zeros = await zstdBytes(["-3"], new Uint8Array(64 * MiB));
    const dataMember = concat([
      await zstdBytes(["-3"], tarHeader({ name: "rootfs.img", size: frames * 64 * MiB })),
      ...Array.from({ length: frames }, () => zeros),
      await zstdBytes(["-3"], EOA),
    ]);
    const artifact = await craft({
      compression: "zstd",
      files: [{ name: "rootfs.img", body: new Uint8Array([1]) }],
      dataMember,
    });
    let read = 0;
    const input = counting(streamOf(...chunks(artifact, 64 * 1024)), (n) => read = n);
    const opened = await openArtifact(input, { limits: { payloadBytes: MiB } });
    const error = await assertRejects(async () => {
      for await (const payload of opened.payloads()) {
        for await (const file of payload.files()) await drain(file.stream);
      }
    });
    assert(error instanceof OtaError && error.code === "LIMIT_EXCEEDED", String(error));
    await opened.cancel(error).catch(() => {});
    assert(read < artifact.byteLength / 10, `read ${read} of ${artifact.byteLength} bytes`);
  } finally {
    useZstdWasm(false);
  }
});

function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  return Array.from(
    { length: Math.ceil(bytes.byteLength / size) },
    (_, i) => bytes.subarray(i * size, (i + 1) * size),
  );
}
