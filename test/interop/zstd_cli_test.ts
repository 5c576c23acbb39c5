/**
 * zstd artifacts against the real `zstd` CLI, on the build under test (OTA_TEST_BUILD): Bun's
 * node:zlib in the x64 and arm64 binaries, zstd's WebAssembly build in the armv7 executable and
 * in ota.js on Node 20. mender-artifact 3.9 writes no zstd, so its uncompressed artifacts are
 * repacked with members compressed by the CLI (levels 1 and 19, --long=27, several frames) and
 * an outer tar from GNU tar; what ota writes, the CLI decodes.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ota, pseudoRandomBytes, sh } from "../helpers/mod.ts";
import { zstdBytes } from "../helpers/zstd_cli.ts";

const work = await Deno.makeTempDir({ prefix: "ota-zstd-cli-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const rootfs = `${work}/rootfs.ext4`;
await Deno.writeFile(
  rootfs,
  new Uint8Array([...pseudoRandomBytes(1_000_000, 11), ...new Uint8Array(2_000_000)]),
);
const plain = `${work}/plain.mender`;
await sh([
  ..."mender-artifact write rootfs-image -n rel-z -t board-a --compression none".split(" "),
  ...["-f", rootfs, "-o", plain],
]);
const members = `${work}/members`;
await Deno.mkdir(members);
await sh(["tar", "-xf", plain, "-C", members]);

let counter = 0;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** `zstd ARGS` from stdin, as a stream writes it: no content size, the full window. */
const zstd = zstdBytes;

/**
 * mender-artifact's artifact with header.tar and data/0000.tar compressed by the CLI into
 * `.tar.zst` members (`data` makes the payload's bytes from its tar), the manifest's header line
 * renamed and its checksum renewed.
 */
async function repacked(data: (tar: Uint8Array) => Promise<Uint8Array>): Promise<string> {
  const dir = `${work}/repack-${++counter}`;
  await Deno.mkdir(`${dir}/data`, { recursive: true });
  const header = await zstd(["-19"], await Deno.readFile(`${members}/header.tar`));
  await Deno.writeFile(`${dir}/header.tar.zst`, header);
  await Deno.writeFile(
    `${dir}/data/0000.tar.zst`,
    await data(await Deno.readFile(`${members}/data/0000.tar`)),
  );
  const manifest = (await Deno.readTextFile(`${members}/manifest`))
    .replace(/^\S+ {2}header\.tar$/m, `${sha256(header)}  header.tar.zst`);
  await Deno.writeTextFile(`${dir}/manifest`, manifest);
  await Deno.copyFile(`${members}/version`, `${dir}/version`);
  const artifact = `${dir}.mender`;
  await sh([
    ..."tar --format=ustar --owner=0 --group=0 -cf".split(" "),
    artifact,
    ...["-C", dir, "version", "manifest", "header.tar.zst", "data/0000.tar.zst"],
  ]);
  return artifact;
}

const variants: [string, (tar: Uint8Array) => Promise<Uint8Array>][] = [
  ["-1", (tar) => zstd(["-1"], tar)],
  ["-19", (tar) => zstd(["-19"], tar)],
  ["--long=27 (a 128 MiB window)", (tar) => zstd(["-3", "--long=27"], tar)],
  ["three frames", async (tar) => {
    const parts = [
      tar.subarray(0, 700_001),
      tar.subarray(700_001, 2_100_000),
      tar.subarray(2_100_000),
    ];
    const frames = await Promise.all(parts.map((part, i) => zstd([`-${1 + 2 * i}`], part)));
    return new Uint8Array(await new Blob(frames as BlobPart[]).arrayBuffer());
  }],
];

for (const [what, data] of variants) {
  Deno.test(`zstd ${what} (the CLI) in mender-artifact's artifact: ota validates it`, async () => {
    const artifact = await repacked(data);
    const result = await ota(["artifact", "validate", artifact]);
    // validate checks every payload file's sha256: the decoded bytes are mender-artifact's
    assertEquals(result.code, 0, result.stderr);
  });
}

/** One `ota: ... [CODE]` line from `artifact validate`. */
async function refused(artifact: string, code: string): Promise<string> {
  const result = await ota(["artifact", "validate", artifact]);
  assertEquals(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split("\n");
  assertEquals(lines.length, 1, result.stderr);
  assertMatch(lines[0]!, new RegExp(`^ota: .*\\[${code}\\]$`));
  return lines[0]!;
}

Deno.test("zstd --long=28 (a 256 MiB window) is refused with ZSTD_WINDOW_TOO_LARGE", async () => {
  const artifact = await repacked((tar) => zstd(["-3", "--long=28"], tar));
  assertMatch(await refused(artifact, "ZSTD_WINDOW_TOO_LARGE"), /128 MiB/);
});

Deno.test("the CLI's frame with its first block's header broken is ZSTD_CORRUPT", async () => {
  const artifact = await repacked(async (tar) => {
    const frame = await zstd(["-3"], tar);
    // magic (4 bytes), frame header (2), then the block header: its size, garbled
    frame[7]! ^= 0xff;
    return frame;
  });
  await refused(artifact, "ZSTD_CORRUPT");
});

Deno.test("ota's zstd artifact: zstd -d (the CLI) gives back the payload", async () => {
  const artifact = `${work}/ota-${++counter}.mender`;
  const write = await ota([
    ..."artifact write rootfs-image -n rel-o -t board-a --compression zstd".split(" "),
    ...["-f", rootfs, "-o", artifact],
  ]);
  assertEquals(write.code, 0, write.stderr);
  const dir = `${work}/ota-${counter}`;
  await Deno.mkdir(dir);
  await sh(["tar", "-xf", artifact, "-C", dir]);
  await sh(["zstd", "-q", "-t", `${dir}/header.tar.zst`]);
  await sh(["zstd", "-q", "-d", `${dir}/data/0000.tar.zst`, "-o", `${dir}/data.tar`]);
  await sh(["tar", "-xf", `${dir}/data.tar`, "-C", dir]);
  const name = rootfs.split("/").pop()!;
  assertEquals(
    sha256(await Deno.readFile(`${dir}/${name}`)),
    sha256(await Deno.readFile(rootfs)),
  );
  assert((await ota(["artifact", "validate", artifact])).code === 0);
});
