/**
 * An adaptive artifact is a plain Mender Artifact: the real mender-artifact 3.9 validates
 * ota's (gzip and uncompressed, signed) and the real Mender 3.4 client installs it
 * unchanged on a simulated board; mender-artifact's own `sign` keeps it adaptive.
 *
 * And why the index lives in the payload's meta-data: each place it could go, tried on an
 * artifact the real mender-artifact wrote (edited with Python's tarfile, signed again),
 * with both real tools. Meta-data and a type-info field pass both; a file of its own in
 * the header, a second payload file and a member after the payload are refused by both.
 * (A type-info field would also reach the device's provides store on some clients and is
 * refused by readers that know type-info's fields, ota's among them; an augmented header
 * passes both tools but is not signed.)
 *
 * And how large it may be: the largest index ota writes (15 MiB of meta-data) passes both
 * tools, which take a header past ota's 16 MiB as well; ota refuses that one with a code.
 */
import { Buffer } from "node:buffer";
import { slotImage } from "../../examples/device/device.ts";
import { MAX_INDEX_BYTES } from "../../src/artifact/adaptive_index.ts";
import { assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { editArtifact, type EditOp, menderValidate } from "../helpers/artifact_edit.ts";
import { rsaKey } from "../helpers/keys.ts";
import {
  bootDevice,
  createMenderDevice,
  envGet,
  menderClientAvailable,
  releaseMenderDevice,
  runMender,
  slotFile,
} from "../helpers/mender_client.ts";
import { BINARY, run, sh } from "../helpers/mod.ts";
import { startNginx } from "../helpers/nginx.ts";
import { adaptiveBoard, adaptiveLines } from "../e2e/adaptive_fixture.ts";

const ignore = !menderClientAvailable();

async function image(dir: string, name: string): Promise<string> {
  await Deno.mkdir(`${dir}/${name}.d/etc`, { recursive: true });
  await Deno.writeTextFile(`${dir}/${name}.d/etc/slot-id`, `${name} rootfs\n`);
  await sh(["truncate", "-s", "16M", `${dir}/${name}.ext4`]);
  await sh([
    "mkfs.ext4",
    "-q",
    "-F",
    "-b",
    "4096",
    "-d",
    `${dir}/${name}.d`,
    `${dir}/${name}.ext4`,
  ]);
  return `${dir}/${name}.ext4`;
}

/** The real Mender 3.4 installs `artifact` on a fresh board: exit code, and what slot B holds. */
async function menderInstalls(dir: string, artifact: string, key: string) {
  const device = await createMenderDevice(`${dir}/board-${crypto.randomUUID()}`, {
    rootfs: { sizeMiB: 20 },
    config: { ArtifactVerifyKey: key },
  });
  try {
    const install = await runMender(device, ["install", artifact]);
    const slot = await slotFile(device, "3", "/etc/slot-id").catch(() => "");
    return { device, install, slot: slot.trim(), env: await envGet(device, "upgrade_available") };
  } catch (error) {
    await releaseMenderDevice(device);
    throw error;
  }
}

Deno.test({
  name: "mender-artifact 3.9 validates ota's adaptive artifacts and Mender 3.4 installs them",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-adaptive-interop-" });
    try {
      const key = await rsaKey(dir, 2048);
      const file = await image(dir, "release-2");
      for (const compression of ["gzip", "none"]) {
        const artifact = `${dir}/release-2-${compression}.mender`;
        await sh([
          BINARY,
          "artifact",
          "write",
          "rootfs-image",
          "-n",
          "release-2",
          "-t",
          "test-device",
          "-f",
          file,
          "-o",
          artifact,
          "--adaptive",
          "--compression",
          compression,
          "-k",
          key.private,
          "--no-progress",
        ]);
        const validate = await run(["mender-artifact", "validate", "-k", key.public, artifact]);
        assertEquals(validate.code, 0, validate.stderr);
        const read = await run(["mender-artifact", "read", artifact]);
        assertStringIncludes(read.stdout, '"ota.adaptive"');
        const { device, install, slot, env } = await menderInstalls(dir, artifact, key.public);
        try {
          assertEquals(install.code, 0, install.stderr);
          assertEquals(slot, "release-2 rootfs");
          assertEquals(env, "1");
          assertEquals(await bootDevice(device), "3");
          assertEquals((await runMender(device, ["commit"])).code, 0);
        } finally {
          await releaseMenderDevice(device);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "signed again by mender-artifact 3.9, an adaptive artifact is still installed adaptively",
  ignore,
  async fn() {
    await using b = await adaptiveBoard();
    const key = await rsaKey(b.f.dir, 2048);
    const signed = `${b.serveDir}/signed.mender`;
    await sh(["mender-artifact", "sign", "-k", key.private, "-o", signed, b.artifact]);
    await using nginx = await startNginx(b.serveDir);
    const install = await b.f.ota("install", nginx.url("/signed.mender"));
    assertEquals(install.code, 0, install.stderr);
    assertMatch(adaptiveLines(install.stderr).join("\n"), /Reused/);
    assertEquals(
      await sh(["sha256sum", slotImage(b.f.device.dir, 3)]).then((s) => s.split(" ")[0]),
      await sh(["sha256sum", b.newImage]).then((s) => s.split(" ")[0]),
    );
  },
});

Deno.test({
  name: "where an index can live: each place tried with mender-artifact 3.9 and Mender 3.4",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-adaptive-places-" });
    try {
      const key = await rsaKey(dir, 2048);
      const base = `${dir}/base.mender`;
      const file = await image(dir, "release-2");
      await sh([
        "mender-artifact",
        "write",
        "rootfs-image",
        "-n",
        "release-2",
        "-t",
        "test-device",
        "-f",
        file,
        "-o",
        base,
        "-k",
        key.private,
      ]);
      const index = { version: 1, block_size: 4096, hashes: "q".repeat(4000) };
      const text = JSON.stringify(index);
      const places: [string, EditOp[], boolean][] = [
        [
          "meta-data",
          [{ op: "json", member: "headers/0000/meta-data", path: ["i"], value: index }],
          true,
        ],
        ["a type-info field", [{
          op: "json",
          member: "headers/0000/type-info",
          path: ["i"],
          value: index,
        }], true],
        [
          "a file in the header",
          [{ op: "raw", member: "headers/0000/index", text, create: true }],
          false,
        ],
        ["a second payload file", [{ op: "data-add", name: "index", text, listed: true }], false],
        ["a member after the payload", [{ op: "outer-add", name: "index", text }], false],
      ];
      for (const [place, ops, accepted] of places) {
        const edited = await editArtifact(dir, await Deno.readFile(base), [
          ...ops,
          { op: "sign", key: key.private },
        ]);
        const validate = await menderValidate(dir, edited.bytes, [key.public]);
        assertEquals(
          validate.ok,
          accepted,
          `mender-artifact validate, ${place}: ${validate.message}`,
        );
        const path = `${dir}/edited.mender`;
        await Deno.writeFile(path, edited.bytes);
        const { device, install, slot, env } = await menderInstalls(dir, path, key.public);
        await releaseMenderDevice(device);
        assertEquals(
          install.code === 0,
          accepted,
          `Mender 3.4 install, ${place}: ${install.stderr}`,
        );
        // refused, nothing is switched to (a member after the payload is found only once
        // the image was written)
        assertEquals(env, accepted ? "1" : "0", place);
        if (accepted) assertEquals(slot, "release-2 rootfs", place);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the largest index ota writes passes both real tools; a header over ota's 16 MiB they take",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-adaptive-large-" });
    try {
      const key = await rsaKey(dir, 2048);
      const base = `${dir}/base.mender`;
      const file = await image(dir, "release-2");
      await sh([
        "mender-artifact",
        "write",
        "rootfs-image",
        "-n",
        "release-2",
        "-t",
        "test-device",
        "-f",
        file,
        "-o",
        base,
        "-k",
        key.private,
      ]);
      // base64 of random bytes, as an index's hashes are (gzip takes a quarter off them)
      const text = (bytes: number) => {
        const raw = new Uint8Array(Math.ceil(bytes * 3 / 4));
        for (let at = 0; at < raw.length; at += 65536) {
          crypto.getRandomValues(raw.subarray(at, at + 65536));
        }
        return Buffer.from(raw).toString("base64").slice(0, bytes);
      };
      const withIndex = async (bytes: number) => {
        const edited = await editArtifact(dir, await Deno.readFile(base), [
          {
            op: "json",
            member: "headers/0000/meta-data",
            path: ["ota.adaptive"],
            value: { hashes: text(bytes) },
          },
          { op: "sign", key: key.private },
        ]);
        const path = `${dir}/index-${bytes}.mender`;
        await Deno.writeFile(path, edited.bytes);
        return path;
      };
      const largest = await withIndex(MAX_INDEX_BYTES - 64);
      assertEquals(
        (await menderValidate(dir, await Deno.readFile(largest), [key.public])).ok,
        true,
      );
      const { device, install, slot } = await menderInstalls(dir, largest, key.public);
      await releaseMenderDevice(device);
      assertEquals(install.code, 0, install.stderr);
      assertEquals(slot, "release-2 rootfs");
      const read = await run([BINARY, "artifact", "read", largest]);
      assertEquals(read.code, 0, read.stderr);
      // past ota's limit: the real tools still take it, ota refuses it with a code
      const over = await withIndex(17 * 1024 * 1024);
      assertEquals((await menderValidate(dir, await Deno.readFile(over), [key.public])).ok, true);
      const refused = await run([BINARY, "artifact", "read", over]);
      assertEquals(refused.code, 1);
      assertMatch(refused.stderr, /\[LIMIT_EXCEEDED\]/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
