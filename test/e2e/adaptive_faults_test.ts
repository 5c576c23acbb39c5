/**
 * Adaptive installs that go wrong, with the binary on a simulated board. An index edited
 * after signing (with Python's tarfile, independent of ota) is refused before anything is
 * written; a signed index that does not fit the payload, one of a version ota does not read
 * or larger than it takes, and a running slot that changed since it was written, still end
 * with exactly the new image; a power cut while the new slot is assembled leaves the board
 * as any interrupted install does.
 */
import { Buffer } from "node:buffer";
import {
  ADAPTIVE_KEY,
  hashOrdinal,
  isZeroBlock,
  readAdaptiveIndex,
} from "../../src/artifact/adaptive_index.ts";
import { slotImage } from "../../examples/device/device.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { editArtifact, type EditOp, menderValidate } from "../helpers/artifact_edit.ts";
import { BINARY, pseudoRandomBytes, sha256File } from "../helpers/mod.ts";
import { startNginx } from "../helpers/nginx.ts";
import { members, rangeServer } from "../adaptive/kit.ts";
import { type AdaptiveBoard, adaptiveBoard, adaptiveLines } from "./adaptive_fixture.ts";

const META = "headers/0000/meta-data";

async function index(b: AdaptiveBoard): Promise<Record<string, string>> {
  const result = await new Deno.Command(BINARY, {
    args: ["artifact", "read", "--json", b.artifact],
    stdout: "piped",
  }).output();
  const read = JSON.parse(new TextDecoder().decode(result.stdout));
  return read.payloads[0].metaData["ota.adaptive"];
}

/** The index's block hashes with the hash of block `i` (not one of zeros) changed. */
function wrongHash(json: Record<string, string>, i: number): string {
  const index = readAdaptiveIndex({ [ADAPTIVE_KEY]: json })!;
  assert(!isZeroBlock(index, i), `block ${i} is zeros`);
  const bytes = Buffer.from(json.hashes!, "base64");
  bytes[hashOrdinal(index, i) * index.hashBytes]! ^= 0xff;
  return bytes.toString("base64");
}

async function untouched(b: AdaptiveBoard, slotB: string): Promise<void> {
  assertEquals(await sha256File(slotImage(b.f.device.dir, 3)), slotB);
  assertEquals((await b.f.env()).upgrade_available, "0");
  assertEquals((await b.f.ota("commit")).code, 2, "no update is in progress");
}

Deno.test("adaptive: an index changed after signing is refused, before anything is written", async () => {
  await using b = await adaptiveBoard({ signed: true });
  const json = await index(b);
  const original = await Deno.readFile(b.artifact);
  const slotB = await sha256File(slotImage(b.f.device.dir, 3));
  const edit: EditOp = {
    op: "json",
    member: META,
    path: ["ota.adaptive", "hashes"],
    value: wrongHash(json, 5),
  };
  const resigned = (await editArtifact(b.f.dir, original, [edit])).bytes;
  // the same edit with the manifest and signature as they were signed, byte for byte
  const asSigned = resigned.slice();
  for (const name of ["manifest", "manifest.sig"]) {
    const before = members(original).get(name)!.bytes;
    const at = members(asSigned).get(name)!;
    assertEquals(at.bytes.length, before.length);
    asSigned.set(before, at.offset);
  }
  const cases: [string, Uint8Array][] = [
    // the header's checksum in the manifest updated: the signature no longer verifies
    ["SIGNATURE_INVALID", resigned],
    // the manifest as signed: the header no longer matches its checksum
    ["CHECKSUM_MISMATCH", asSigned],
  ];
  await using nginx = await startNginx(b.serveDir);
  for (const [code, edited] of cases) {
    assertEquals((await menderValidate(b.f.dir, edited, [b.key!.public])).ok, false);
    await Deno.writeFile(`${b.serveDir}/edited.mender`, edited);
    const install = await b.f.ota("install", nginx.url("/edited.mender"));
    assertEquals(install.code, 1, install.stderr);
    assertMatch(install.stderr, new RegExp(`\\[${code}\\]`));
    assertEquals(adaptiveLines(install.stderr), [], "nothing was fetched for the payload");
    await untouched(b, slotB);
  }
});

Deno.test("adaptive: a signed index that does not fit the payload falls back to the whole image", async () => {
  await using b = await adaptiveBoard({ signed: true });
  const json = await index(b);
  // re-signed with the right key: the header is trusted, but its hash of a block is wrong (no
  // block of the running slot has it: the block is fetched, and does not match)
  const decoded = readAdaptiveIndex({ [ADAPTIVE_KEY]: json })!;
  let block = 300;
  while (isZeroBlock(decoded, block)) block++;
  const edited = await editArtifact(b.f.dir, await Deno.readFile(b.artifact), [
    { op: "json", member: META, path: ["ota.adaptive", "hashes"], value: wrongHash(json, block) },
    { op: "sign", key: b.key!.private },
  ]);
  await Deno.writeFile(b.artifact, edited.bytes);
  await using nginx = await startNginx(b.serveDir);
  const install = await b.f.ota("install", nginx.url("/release-2.mender"));
  assertEquals(install.code, 0, install.stderr);
  assertMatch(
    adaptiveLines(install.stderr).join("\n"),
    new RegExp(
      `not possible: ADAPTIVE_MISMATCH: block ${block} does not match the index; ` +
        "downloading the whole image",
    ),
  );
  assertEquals(await sha256File(slotImage(b.f.device.dir, 3)), await sha256File(b.newImage));
  assertEquals((await b.f.boot()).slotId, "release-2 rootfs");
});

Deno.test("adaptive: a running slot that changed since it was written gives the same new slot", async () => {
  await using b = await adaptiveBoard();
  // a MiB of the running slot overwritten: its blocks no longer match what was released
  const slotA = await Deno.open(slotImage(b.f.device.dir, 2), { write: true });
  await slotA.seek(5 * 1048576, Deno.SeekMode.Start);
  await slotA.write(pseudoRandomBytes(1048576, 99));
  slotA.close();
  await using nginx = await startNginx(b.serveDir);
  const install = await b.f.ota("install", nginx.url("/release-2.mender"));
  assertEquals(install.code, 0, install.stderr);
  assertMatch(adaptiveLines(install.stderr).join("\n"), /Reused/);
  assertEquals(await sha256File(slotImage(b.f.device.dir, 3)), await sha256File(b.newImage));
});

Deno.test("adaptive: a power cut while the new slot is assembled leaves the old system", async () => {
  await using b = await adaptiveBoard();
  const bytes = await Deno.readFile(b.artifact);
  const pieces = members(bytes).get("data/0000.tar.gz")!.offset + 2048;
  let reached!: () => void;
  const atPiece = new Promise<void>((resolve) => reached = resolve);
  let hold = true;
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  await using server = rangeServer(bytes, {
    async beforeRange(range) {
      if (range.start < pieces || !hold) return;
      reached();
      await held;
    },
  });
  const child = new Deno.Command(BINARY, {
    args: ["install", "--config", b.f.device.config, "--data", b.f.device.data, server.url],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await atPiece; // the head is verified, the running slot hashed, pieces being fetched
  child.kill("SIGKILL");
  await child.status;
  hold = false;
  release();
  assertEquals((await b.f.boot()).slotId, "release-1 rootfs");
  const resume = await b.f.ota("resume");
  assert([0, 1, 2].includes(resume.code), resume.stderr);
  assertEquals((await b.f.ota("commit")).code, 2, "nothing to commit");
  assertEquals((await b.f.env()).upgrade_available, "0");
  assertEquals((await b.f.env()).mender_boot_part, "2");
  // the same update installs from here, adaptively again
  const again = await b.f.ota("install", server.url);
  assertEquals(again.code, 0, again.stderr);
  assertMatch(adaptiveLines(again.stderr).join("\n"), /Reused/);
  assertEquals((await b.f.boot()).slotId, "release-2 rootfs");
  assertEquals((await b.f.ota("commit")).code, 0);
});

Deno.test("adaptive: a signed index of another version, or larger than ota takes, falls back", async () => {
  const cases: [string, EditOp][] = [
    ["ADAPTIVE_INDEX_VERSION", {
      op: "json",
      member: META,
      path: ["ota.adaptive", "version"],
      value: 3,
    }],
    ["ADAPTIVE_INDEX_TOO_LARGE", {
      op: "json",
      member: META,
      path: ["ota.adaptive", "size"],
      value: 2 ** 45,
    }],
  ];
  for (const [code, edit] of cases) {
    await using b = await adaptiveBoard({ signed: true });
    const edited = await editArtifact(b.f.dir, await Deno.readFile(b.artifact), [
      edit,
      { op: "sign", key: b.key!.private },
    ]);
    await Deno.writeFile(b.artifact, edited.bytes);
    await using nginx = await startNginx(b.serveDir);
    const install = await b.f.ota("install", nginx.url("/release-2.mender"));
    assertEquals(install.code, 0, install.stderr);
    assertMatch(
      adaptiveLines(install.stderr).join("\n"),
      new RegExp(`Adaptive update not possible: ${code}: .*; downloading the whole image`),
    );
    assertEquals(await sha256File(slotImage(b.f.device.dir, 3)), await sha256File(b.newImage));
    assertEquals((await b.f.boot()).slotId, "release-2 rootfs");
  }
});
