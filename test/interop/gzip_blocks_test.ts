/**
 * gzip written in parallel blocks, read by the real tools: an artifact ota writes with an
 * 8 MiB payload (random and zero MiB in turn) holds a data member of many gzip members,
 * some stored and some deflated, as Python's zlib finds them; gunzip, mender-artifact 3.9
 * (validate, read, dump byte for byte) and ota itself take it as one stream.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { ota, pseudoRandomBytes, sh, sha256File } from "../helpers/mod.ts";

const MiB = 1024 * 1024;

Deno.test("ota's gzip blocks are one stream for gunzip, mender-artifact and ota", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ota-gzip-blocks-" });
  try {
    const image = `${dir}/rootfs.ext4`;
    const parts = Array.from(
      { length: 8 },
      (_, i) => (i % 2 ? new Uint8Array(MiB) : pseudoRandomBytes(MiB, i + 1)),
    );
    await Deno.writeFile(image, new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()));
    const artifact = `${dir}/a.mender`;
    const write = await ota([
      "artifact",
      "write",
      "rootfs-image",
      "-n",
      "blocks-1",
      "-t",
      "board",
      "-f",
      image,
      "-o",
      artifact,
      "--compression",
      "gzip",
    ]); // deno-fmt-ignore
    assertEquals(write.code, 0, write.stderr);

    await sh(["tar", "-xf", artifact, "-C", dir, "data/0000.tar.gz"]);
    const types = JSON.parse(
      await sh([
        "python3",
        "-c",
        `import sys, zlib, json
data = open(sys.argv[1], "rb").read()
types = []
while data:
    d = zlib.decompressobj(31)
    d.decompress(data)
    assert d.eof
    types.append((data[10] >> 1) & 3)
    data = d.unused_data
print(json.dumps(types))`,
        `${dir}/data/0000.tar.gz`,
      ]),
    ) as number[];
    assert(types.length >= 8, `several members: ${types.length}`);
    assert(types.includes(0) && types.includes(2), `stored and deflated: ${types}`);
    await sh(["gunzip", "-t", `${dir}/data/0000.tar.gz`]);

    await sh(["mender-artifact", "validate", artifact]);
    assertStringIncludes(await sh(["mender-artifact", "read", artifact]), "rootfs.ext4");
    await sh(["mender-artifact", "dump", "--files", `${dir}/dump`, artifact]);
    assertEquals(await sha256File(`${dir}/dump/rootfs.ext4`), await sha256File(image));
    const validate = await ota(["artifact", "validate", artifact]);
    assertEquals(validate.code, 0, validate.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
