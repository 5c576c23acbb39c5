/**
 * Augmented artifacts against Debian's real mender-artifact 3.9, both ways: what ota writes
 * with --augment-* passes its `validate` (-k) and `read`, holds the same header and
 * header-augment files as what it writes itself from the same command line, and reads the
 * same; what it writes, ota validates, reads with the same fields, and dumps. The writing
 * rules are its rules, or stricter where an augment would change the signed header.
 */
import { assert, assertEquals, assertStringIncludes, at } from "../helpers/assert.ts";
import { ecKey, rsaKey } from "../helpers/keys.ts";
import { BINARY, ota, pseudoRandomBytes, run, sh } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-augment-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const keys = { rsa: await rsaKey(work, 3072), ec: await ecKey(work) };
await Deno.writeTextFile(`${work}/f1.txt`, "the signed file\n");
await Deno.writeFile(`${work}/f2.delta`, pseudoRandomBytes(50_000, 9));
await Deno.writeTextFile(`${work}/meta.json`, '{"dest":"/opt/app","n":[1,2],"b":{"c":2}}');
await Deno.writeTextFile(`${work}/augment-meta.json`, '{"b":{"d":"x<y"},"delta":true}');
const asMenderArtifact = `${work}/mender-artifact`;
await Deno.symlink(BINARY, asMenderArtifact);

let counter = 0;
const out = (name: string) => `${work}/${name}-${++counter}.mender`;

/** A module-image with every augment option, in mender-artifact's spelling. */
function writeArgs(output: string, extra: string[] = []): string[] {
  return [
    "write",
    "module-image",
    ...["-T", "app-full", "-n", "app-2", "-t", "board-a", "-t", "board-b"],
    ...["-f", `${work}/f1.txt`, "-m", `${work}/meta.json`],
    ...["-p", "app.version:2", "-d", "app.version:1", "-N", "app-1", "-g", "group-a"],
    ...["--augment-type", "app-delta", "--augment-file", `${work}/f2.delta`],
    ...["--augment-provides", "app.delta:from-1", "--augment-depends", "app.base:1"],
    ...["--augment-meta-data", `${work}/augment-meta.json`],
    ...extra,
    "-o",
    output,
  ];
}

/** Every file of the header and the header-augment, by path, as tar extracts them. */
async function headers(artifact: string): Promise<Record<string, string>> {
  const dir = await Deno.makeTempDir({ dir: work });
  await sh(["tar", "-xf", artifact, "-C", dir]);
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (!/^header(-augment)?\.tar/.test(entry.name)) continue;
    const inner = `${dir}/${entry.name}.d`;
    await Deno.mkdir(inner);
    await sh(["tar", "-xaf", `${dir}/${entry.name}`, "-C", inner]);
    const base = entry.name.replace(/\.tar.*/, "");
    for (const path of (await sh(["find", inner, "-type", "f"])).trim().split("\n")) {
      files[`${base}/${path.slice(inner.length + 1)}`] = await Deno.readTextFile(path);
    }
  }
  return files;
}

/** mender-artifact's read, and ota's in its dialect, with the same key. */
async function reads(artifact: string, key?: string) {
  const k = key ? ["-k", key] : [];
  const real = await run(["mender-artifact", "read", ...k, artifact]);
  const ours = await run([asMenderArtifact, "read", ...k, artifact]);
  assertEquals(real.code, 0, real.stderr);
  assertEquals(ours.code, 0, ours.stderr);
  return { real: real.stdout, ours: ours.stdout };
}

for (
  const [name, extra, key] of [
    ["gzip, unsigned", [], undefined],
    ["xz, signed with RSA", ["--compression", "lzma", "-k", keys.rsa.private], keys.rsa.public],
    ["none, signed with ECDSA", ["--compression", "none", "-k", keys.ec.private], keys.ec.public],
  ] as const
) {
  Deno.test(`ota writes an augmented artifact (${name}): mender-artifact validates and reads it`, async () => {
    const [global, rest] = extra[0] === "--compression"
      ? [extra.slice(0, 2), extra.slice(2)]
      : [[], [...extra]];
    const mine = out("ota");
    const written = await run([asMenderArtifact, ...global, ...writeArgs(mine, rest)]);
    assertEquals(written.code, 0, written.stderr);
    const theirs = out("ma");
    await sh(["mender-artifact", ...global, ...writeArgs(theirs, rest)]);

    const members = (await sh(["tar", "-tf", mine])).trim().split("\n");
    assertEquals(members, (await sh(["tar", "-tf", theirs])).trim().split("\n"));
    assertEquals(await headers(mine), await headers(theirs));
    const k = key ? ["-k", key] : [];
    const validate = await run(["mender-artifact", "validate", ...k, mine]);
    assertEquals(validate.code, 0, validate.stdout + validate.stderr);
    const text = await reads(mine, key);
    assertEquals(text.ours, text.real);
    assertStringIncludes(text.real, "Type:   app-delta");
    assertStringIncludes(text.real, "app.delta: from-1");
    assertStringIncludes(text.real, "name:     f2.delta");
  });
}

Deno.test("mender-artifact writes an augmented artifact: ota validates, reads and dumps it", async () => {
  const artifact = out("ma-signed");
  await sh(["mender-artifact", ...writeArgs(artifact, ["-k", keys.rsa.private])]);
  assertEquals((await ota(["artifact", "validate", "-k", keys.rsa.public, artifact])).code, 0);
  const other = await ota(["artifact", "validate", "-k", keys.ec.public, artifact]);
  assertStringIncludes(other.stderr, "[SIGNATURE_INVALID]");

  const read = await ota(["artifact", "read", "--json", "-k", keys.rsa.public, artifact]);
  assertEquals(read.code, 0, read.stderr);
  const info = JSON.parse(read.stdout);
  assertEquals([info.augmented, info.signatureVerified], [true, true]);
  const payload = at(info.payloads as Record<string, unknown>[], 0);
  assertEquals([payload.type, payload.augments], ["app-delta", "app-full"]);
  assertEquals(payload.provides, {
    "app.version": "2",
    "rootfs-image.app-full.version": "app-2",
    "app.delta": "from-1",
  });
  assertEquals(payload.depends, { "app.version": "1", "app.base": "1" });
  assertEquals(payload.metaData, {
    dest: "/opt/app",
    n: [1, 2],
    b: { c: 2, d: "x<y" },
    delta: true,
  });
  const files = payload.files as { name: string; augmented?: boolean }[];
  assertEquals(files.map((f) => [f.name, f.augmented ?? false]), [
    ["f1.txt", false],
    ["f2.delta", true],
  ]);
  const text = await reads(artifact, keys.rsa.public);
  assertEquals(text.ours, text.real);

  const dump = `${work}/dump-${counter}`;
  const dumps: [string, string][] = [["mender-artifact", `${dump}-ma`], [asMenderArtifact, dump]];
  for (const [tool, dir] of dumps) {
    await sh([tool, "dump", "--meta-data", dir, "--files", `${dir}/files`, artifact]);
  }
  for (const file of ["0000.meta-data", "0000.meta-data-augment", "files/f2.delta"]) {
    assertEquals(await Deno.readFile(`${dump}/${file}`), await Deno.readFile(`${dump}-ma/${file}`));
  }
});

Deno.test("the augment options need --augment-type, and only module-image has them, as mender-artifact", async () => {
  for (const tool of ["mender-artifact", asMenderArtifact]) {
    const noType = await run([
      tool,
      ...["write", "module-image", "-T", "app", "-n", "x", "-t", "board-a"],
      ...["-f", `${work}/f1.txt`, "--augment-file", `${work}/f2.delta`, "-o", out("no-type")],
    ]);
    assertEquals(noType.code, 1, tool);
    assertStringIncludes(
      noType.stdout + noType.stderr,
      "Must give --augment-type argument if making augmented artifact",
    );
    const rootfs = await run([
      tool,
      ...["write", "rootfs-image", "-n", "x", "-t", "board-a", "-f", `${work}/f1.txt`],
      ...["--augment-type", "app", "-o", out("rootfs")],
    ]);
    assertEquals(rootfs.code, 1, `${tool} write rootfs-image --augment-type`);
  }
});

Deno.test("an augment that would change the signed header: mender-artifact writes it, ota neither writes nor reads it", async () => {
  const args = (output: string) => [
    ...["write", "module-image", "-T", "app", "-n", "x", "-t", "board-a", "-f", `${work}/f1.txt`],
    ...["-p", "app.version:2", "--augment-type", "app-delta"],
    ...["--augment-provides", "app.version:9", "-o", output],
  ];
  const theirs = out("override");
  await sh(["mender-artifact", ...args(theirs)]);
  assertEquals((await run(["mender-artifact", "validate", theirs])).code, 0);
  assertStringIncludes(await sh(["mender-artifact", "read", theirs]), "app.version: 9");
  const read = await ota(["artifact", "validate", theirs]);
  assertEquals(read.code, 1);
  assertStringIncludes(read.stderr, "[AUGMENT_OVERRIDE]");
  const mine = out("override-ota");
  const write = await run([asMenderArtifact, ...args(mine)]);
  assertEquals(write.code, 1);
  assertStringIncludes(write.stderr, "[AUGMENT_OVERRIDE]");
  assert(!(await Deno.stat(mine).catch(() => undefined)), "ota wrote the artifact");

  // the same file signed and in the augment: mender-artifact writes what it cannot read
  const twice = [`${work}/f1.txt`, `${work}/f1.txt`];
  const both = out("both");
  await sh(["mender-artifact", ...writeArgs(both, ["--augment-file", twice[1]!])]);
  assertEquals((await run(["mender-artifact", "validate", both])).code, 4);
  const refused = await run([
    asMenderArtifact,
    ...writeArgs(out("both-ota"), ["--augment-file", twice[1]!]),
  ]);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "given twice");
});
