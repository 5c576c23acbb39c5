/**
 * Interop with Debian's real `mender-artifact` 3.9, both ways: artifacts it writes are read,
 * validated, verified and unpacked by the ota binary; artifacts ota writes pass its `read`
 * and `validate -k`, and its `dump` gives back the exact payload bytes.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes, at } from "../helpers/assert.ts";
import { ecKey, type KeyPair, rsaKey } from "../helpers/keys.ts";
import { ota, pseudoRandomBytes, run, sh, sha256File } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-interop-" });
const keys = { rsa: await rsaKey(work, 3072), ec: await ecKey(work) };
const rootfs = `${work}/rootfs.ext4`;
await Deno.writeFile(
  rootfs,
  new Uint8Array([...pseudoRandomBytes(300_000, 7), ...new Uint8Array(700_000)]),
);
const script = `${work}/ArtifactInstall_Enter_00_check`;
await Deno.writeTextFile(script, "#!/bin/sh\necho installing\n");
const files: [string, string, string] = [`${work}/f1.txt`, `${work}/f2.bin`, `${work}/f3.json`];
await Deno.writeTextFile(files[0], "hello\n");
await Deno.writeFile(files[1], pseudoRandomBytes(123_457, 3));
await Deno.writeTextFile(files[2], '{"x":1}');
const meta = `${work}/meta.json`;
await Deno.writeTextFile(meta, '{"dest_dir":"/opt/app","n":[1,2]}');

globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

let counter = 0;
const out = (name: string) => `${work}/${name}-${++counter}.mender`;

async function sameFiles(dir: string, originals: string[]): Promise<void> {
  for (const original of originals) {
    const name = original.split("/").pop()!;
    assertEquals(
      await sha256File(`${dir}/${name}`),
      await sha256File(original),
      `payload ${name} differs`,
    );
  }
}

/** ota reads, validates and unpacks what mender-artifact wrote, byte for byte. */
async function otaAccepts(artifact: string, originals: string[], key?: KeyPair): Promise<unknown> {
  const k = key ? ["-k", key.public] : [];
  const validate = await ota(["artifact", "validate", ...k, artifact]);
  assertEquals(validate.code, 0, validate.stderr);
  const read = await ota(["artifact", "read", "--json", ...k, artifact]);
  assertEquals(read.code, 0, read.stderr);
  const dumpDir = `${artifact}.dump`;
  const dump = await ota([
    "artifact",
    "dump",
    "--files",
    dumpDir,
    "--scripts",
    `${dumpDir}/scripts`,
    ...k,
    artifact,
  ]);
  assertEquals(dump.code, 0, dump.stderr);
  await sameFiles(dumpDir, originals);
  return JSON.parse(read.stdout);
}

/** mender-artifact reads, validates (with the key) and dumps what ota wrote, byte for byte. */
async function menderAccepts(
  artifact: string,
  originals: string[],
  key?: KeyPair,
): Promise<string> {
  const k = key ? ["-k", key.public] : [];
  const read = await sh(["mender-artifact", "read", ...k, artifact]);
  await sh(["mender-artifact", "validate", ...k, artifact]);
  const dumpDir = `${artifact}.mdump`;
  await sh(["mender-artifact", "dump", "--files", dumpDir, artifact]);
  await sameFiles(dumpDir, originals);
  return read;
}

for (const compression of ["none", "gzip", "lzma"]) {
  for (const signer of ["unsigned", "rsa", "ec"] as const) {
    const key = signer === "unsigned" ? undefined : keys[signer];
    Deno.test(`mender-artifact rootfs-image ${compression} ${signer} -> ota`, async () => {
      const artifact = out(`ma-rootfs-${compression}-${signer}`);
      await sh([
        "mender-artifact",
        "write",
        "rootfs-image",
        "-n",
        "rel-2",
        "-t",
        "board-a",
        "-t",
        "board-b",
        "-f",
        rootfs,
        "-o",
        artifact,
        "--compression",
        compression,
        "-s",
        script,
        "--no-progress",
        ...(key ? ["-k", key.private] : []),
      ]);
      const info = await otaAccepts(artifact, [rootfs], key) as {
        signed: boolean;
        signatureVerified: boolean;
        scripts: string[];
        payloads: { provides: Record<string, string> }[];
      };
      assertEquals(info.signed, key !== undefined);
      assertEquals(info.signatureVerified, key !== undefined);
      assertEquals(info.scripts, ["ArtifactInstall_Enter_00_check"]);
      assertEquals(
        at(info.payloads, 0).provides["rootfs-image.checksum"],
        await sha256File(rootfs),
      );
      if (key) {
        // the other key must not verify it
        const other = signer === "rsa" ? keys.ec : keys.rsa;
        const wrong = await ota(["artifact", "validate", "-k", other.public, artifact]);
        assertEquals(wrong.code, 1);
        assertStringIncludes(wrong.stderr, "[SIGNATURE_INVALID]");
      }
    });
  }
}

Deno.test("mender-artifact module-image with several files and meta-data -> ota", async () => {
  const artifact = out("ma-module");
  await sh([
    "mender-artifact",
    "write",
    "module-image",
    "-T",
    "directory",
    "-n",
    "app-1",
    "-t",
    "board-a",
    ...files.flatMap((f) => ["-f", f]),
    "-m",
    meta,
    "-o",
    artifact,
    "-p",
    "app.version:1",
    "-d",
    "rootfs-image.version:rel-2",
    "-N",
    "rel-1",
    "-g",
    "group-a",
    "-G",
    "group-0",
    "--clears-provides",
    "app.*",
    "-k",
    keys.ec.private,
  ]);
  const info = await otaAccepts(artifact, files, keys.ec) as Record<string, unknown>;
  assertEquals(info.providesGroup, "group-a");
  assertEquals(info.dependsArtifacts, ["rel-1"]);
  assertEquals(info.dependsGroups, ["group-0"]);
  const payload = at(info.payloads as Record<string, unknown>[], 0);
  assertEquals(payload.metaData, { dest_dir: "/opt/app", n: [1, 2] });
  assertEquals(payload.depends, { "rootfs-image.version": "rel-2" });
  assertEquals((payload.provides as Record<string, string>)["app.version"], "1");
});

Deno.test("mender-artifact augmented module-image -> ota merges the augment", async () => {
  const artifact = out("ma-augmented");
  await sh([
    "mender-artifact",
    "write",
    "module-image",
    "-T",
    "delta-orig",
    "-n",
    "aug-1",
    "-t",
    "board-a",
    "-f",
    files[0],
    "--augment-type",
    "delta",
    "--augment-file",
    files[1],
    "--augment-provides",
    "delta.base:rel-1",
    "-k",
    keys.rsa.private,
    "-o",
    artifact,
  ]);
  const info = await otaAccepts(artifact, [files[0], files[1]], keys.rsa) as Record<
    string,
    unknown
  >;
  assertEquals(info.augmented, true);
  const payload = at(info.payloads as Record<string, unknown>[], 0);
  assertEquals(payload.type, "delta");
  assertEquals((payload.provides as Record<string, string>)["delta.base"], "rel-1");
});

Deno.test("mender-artifact bootstrap-artifact -> ota", async () => {
  const artifact = out("ma-bootstrap");
  await sh([
    "mender-artifact",
    "write",
    "bootstrap-artifact",
    "-n",
    "factory-1",
    "-t",
    "board-a",
    "-o",
    artifact,
  ]);
  const info = await otaAccepts(artifact, []) as Record<string, unknown>;
  assertEquals(at(info.payloads as Record<string, unknown>[], 0).type, null);
});

Deno.test("mender-artifact sign of an ota artifact -> ota verifies it", async () => {
  const artifact = out("ota-then-ma-sign");
  const write = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "rel-3",
    "-t",
    "board-a",
    "-f",
    rootfs,
    "-o",
    artifact,
  ]);
  assertEquals(write.code, 0, write.stderr);
  await sh(["mender-artifact", "sign", "-k", keys.rsa.private, artifact]);
  await otaAccepts(artifact, [rootfs], keys.rsa);
});

for (const compression of ["none", "gzip", "lzma"]) {
  for (const signer of ["unsigned", "rsa", "ec"] as const) {
    const key = signer === "unsigned" ? undefined : keys[signer];
    Deno.test(`ota rootfs-image ${compression} ${signer} -> mender-artifact`, async () => {
      const artifact = out(`ota-rootfs-${compression}-${signer}`);
      const write = await ota([
        "artifact",
        "write",
        "rootfs-image",
        "-n",
        "rel-2",
        "-t",
        "board-a",
        "-f",
        rootfs,
        "-o",
        artifact,
        "--compression",
        compression,
        "-s",
        script,
        ...(key ? ["-k", key.private] : []),
      ]);
      assertEquals(write.code, 0, write.stderr);
      const read = await menderAccepts(artifact, [rootfs], key);
      assertMatch(read, new RegExp(`rootfs-image.checksum: ${await sha256File(rootfs)}`));
      assertStringIncludes(read, "ArtifactInstall_Enter_00_check");
      if (key) assertStringIncludes(read, "signed and verified correctly");
    });
  }
}

for (const signer of ["rsa", "ec"] as const) {
  Deno.test(`ota module-image signed later with 'ota artifact sign' (${signer}) -> mender-artifact`, async () => {
    const artifact = out(`ota-module-${signer}`);
    const write = await ota([
      "artifact",
      "write",
      "module-image",
      "-T",
      "directory",
      "-n",
      "app-2",
      "-t",
      "board-a",
      ...files.flatMap((f) => ["-f", f]),
      "-m",
      meta,
      "-p",
      "app.version:2",
      "-o",
      artifact,
    ]);
    assertEquals(write.code, 0, write.stderr);
    const sign = await ota(["artifact", "sign", "-k", keys[signer].private, artifact]);
    assertEquals(sign.code, 0, sign.stderr);
    const read = await menderAccepts(artifact, files, keys[signer]);
    assertStringIncludes(read, "app.version: 2");
    // signing twice needs -f, as with mender-artifact
    const again = await ota(["artifact", "sign", "-k", keys[signer].private, artifact]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "[ARTIFACT_SIGNED]");
  });
}

Deno.test("ota writes the same header bytes as mender-artifact for the same inputs", async () => {
  const mine = out("same-ota"), theirs = out("same-ma");
  const args = [
    "module-image",
    "-T",
    "directory",
    "-n",
    "app-3",
    "-t",
    "board-a",
    "-f",
    files[0],
    "-m",
    meta,
  ];
  assertEquals((await ota(["artifact", "write", ...args, "-o", mine])).code, 0);
  await sh(["mender-artifact", "write", ...args, "-o", theirs]);
  const headerOf = async (artifact: string) => {
    const dir = `${artifact}.x`;
    await Deno.mkdir(dir);
    await sh(["tar", "-xf", artifact, "-C", dir]);
    await sh(["tar", "-xzf", `${dir}/header.tar.gz`, "-C", dir]);
    return {
      info: await Deno.readTextFile(`${dir}/header-info`),
      typeInfo: await Deno.readTextFile(`${dir}/headers/0000/type-info`),
      meta: await Deno.readTextFile(`${dir}/headers/0000/meta-data`),
      manifestLines: (await Deno.readTextFile(`${dir}/manifest`)).split("\n").filter((l) =>
        !l.includes("header.tar")
      ),
    };
  };
  assertEquals(await headerOf(mine), await headerOf(theirs));
});

Deno.test("zstd: ota writes and reads it; mender-artifact 3.9 has no zstd and says so", async () => {
  // node:zlib's zstd in the Bun builds, zstd's WebAssembly build on Node 20 (armv7, ota.js)
  const artifact = out("ota-zstd");
  const write = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "rel-z",
    "-t",
    "board-a",
    "-f",
    rootfs,
    "-o",
    artifact,
    "--compression",
    "zstd",
    "-k",
    keys.ec.private,
  ]);
  assertEquals(write.code, 0, write.stderr);
  await otaAccepts(artifact, [rootfs], keys.ec);
  const theirs = await run([
    "mender-artifact",
    "write",
    "rootfs-image",
    "-n",
    "x",
    "-t",
    "b",
    "-f",
    rootfs,
    "-o",
    `${artifact}.ma`,
    "--compression",
    "zstd",
  ]);
  assert(
    theirs.code !== 0,
    "mender-artifact 3.9 unexpectedly wrote zstd; add it to the interop matrix",
  );
});
