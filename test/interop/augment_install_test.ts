/**
 * Installing augmented artifacts with the compiled binary on the simulated device, and what
 * the real Mender 3.4 client does with the same ones. A delta module that asks for augments
 * (SupportsAugmentedArtifacts, ListSupportedOriginalTypes) gets the signed header in header/,
 * the augment's in header-augment/, the unsigned file in streams-augment/ or files-augment/;
 * the augment's depends are checked and its provides recorded. A module that does not ask,
 * and the built-in rootfs-image handler, are never handed an augment. Mender 3.4 refuses
 * every augmented module payload ("Augmented artifacts are not supported yet"), and installs
 * a signed rootfs-image whose image is only in the unsigned augment.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { rsaKey } from "../helpers/keys.ts";
import {
  createMenderDevice,
  envGet,
  installModule,
  menderClientAvailable,
  releaseMenderDevice,
  runMender,
  runOta,
  slotFile,
} from "../helpers/mender_client.ts";
import { BINARY, hasCommand, ota, pseudoRandomBytes, sh } from "../helpers/mod.ts";
import { type Fixture, fixture } from "../e2e/fixture.ts";

const work = await Deno.makeTempDir({ prefix: "ota-augment-install-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const key = await rsaKey(work, 2048);
await Deno.writeTextFile(`${work}/f1.txt`, "the signed file\n");
await Deno.writeFile(`${work}/f2.delta`, pseudoRandomBytes(70_000, 4));

/** A delta module: logs its calls and tree, takes augments unless told (flag files) not to. */
function deltaModule(log: string): string {
  return `#!/bin/sh
state="$1"; tree="$2"
echo "$state" >> ${log}/calls
case "$state" in
  SupportsAugmentedArtifacts) [ -e ${log}/no-augments ] || echo YesThisModuleSupportsAugmentedArtifacts ;;
  ListSupportedOriginalTypes) echo other-type; [ -e ${log}/no-original ] || echo app-full ;;
  Download)
    cp -r "$tree/header" "$tree/header-augment" ${log}/
    [ -e ${log}/files-mode ] && exit 0
    mkdir -p ${log}/got
    while read -r entry < stream-next && [ -n "$entry" ]; do
      cat "$entry" > "${log}/got/$(echo "$entry" | tr / _)"
    done ;;
  ArtifactInstall) [ -d files ] && cp -r files files-augment ${log}/ ;;
  NeedsArtifactReboot) echo No ;;
  SupportsRollback) echo No ;;
esac
exit 0
`;
}

/** The signed artifact with an augment, written by mender-artifact or by ota. */
async function augmented(tool: string[], output: string, extra: string[] = []) {
  await sh([
    ...tool,
    ...["write", "module-image", "-T", "app-full", "-n", "app-2", "-t", "sim-board"],
    ...["-f", `${work}/f1.txt`, "-p", "app.version:2", "-k", key.private],
    ...["--augment-type", "app-delta", "--augment-file", `${work}/f2.delta`],
    ...["--augment-provides", "app.delta:from-1", ...extra, "-o", output],
  ]);
  return output;
}

async function deltaDevice(): Promise<Fixture & { log: string }> {
  const f = await fixture({ config: { ArtifactVerifyKey: key.public } });
  const log = `${f.dir}/module-log`;
  await Deno.mkdir(log);
  await Deno.writeTextFile(`${f.device.dir}/modules/app-delta`, deltaModule(log), { mode: 0o755 });
  return Object.assign(f, { log });
}

const calls = async (log: string) =>
  (await Deno.readTextFile(`${log}/calls`).catch(() => "")).trim().split("\n").filter(Boolean);

Deno.test("a delta module takes mender-artifact's signed augmented artifact, streamed", async () => {
  await using f = await deltaDevice();
  const artifact = await augmented(
    ["mender-artifact"],
    `${f.dir}/aug.mender`,
    ["--augment-depends", "app.base:1"],
  );
  const unmet = await f.ota("install", artifact);
  assertEquals(unmet.code, 1);
  assertStringIncludes(unmet.stderr, "app.base", "the augment's depends are checked");
  const base = `${f.dir}/base.mender`;
  const write = await ota([
    ...["artifact", "write", "bootstrap-artifact", "-n", "app-1", "-t", "sim-board"],
    ...["-p", "app.base:1", "-k", key.private, "-o", base],
  ]);
  assertEquals(write.code, 0, write.stderr);
  assertEquals((await f.ota("install", base)).code, 0);

  const install = await f.ota("install", artifact);
  assertEquals(install.code, 0, install.stderr);
  assertStringIncludes(install.stdout, "Committed.");
  assertEquals((await calls(f.log)).slice(0, 4), [
    "SupportsAugmentedArtifacts",
    "ListSupportedOriginalTypes",
    "Download",
    "ArtifactInstall",
  ]);
  assertEquals(await Deno.readTextFile(`${f.log}/got/streams_f1.txt`), "the signed file\n");
  assertEquals(
    await Deno.readFile(`${f.log}/got/streams-augment_f2.delta`),
    await Deno.readFile(`${work}/f2.delta`),
  );
  assertEquals(await Deno.readTextFile(`${f.log}/header/payload_type`), "app-full");
  const unpacked = `${f.dir}/unpacked`;
  await Deno.mkdir(unpacked);
  await sh(["tar", "-xf", artifact, "-C", unpacked]);
  for (
    const [dir, member] of [["header", "header.tar.gz"], [
      "header-augment",
      "header-augment.tar.gz",
    ]]
  ) {
    await Deno.mkdir(`${unpacked}/${dir}`);
    await sh(["tar", "-xzf", `${unpacked}/${member}`, "-C", `${unpacked}/${dir}`]);
    for (const file of ["header-info", "type-info"]) {
      const inTar = file === "header-info" ? file : `headers/0000/${file}`;
      assertEquals(
        await Deno.readTextFile(`${f.log}/${dir}/${file}`),
        await Deno.readTextFile(`${unpacked}/${dir}/${inTar}`),
        `${dir}/${file}`,
      );
    }
  }
  const provides = (await f.ota("show-provides")).stdout;
  for (const line of ["app.delta=from-1", "app.version=2", "artifact_name=app-2"]) {
    assertStringIncludes(provides, line);
  }
});

Deno.test("a delta module in files mode gets the unsigned file in files-augment/ (ota's artifact)", async () => {
  await using f = await deltaDevice();
  await Deno.writeTextFile(`${f.log}/files-mode`, "");
  const artifact = await augmented([BINARY, "artifact"], `${f.dir}/aug.mender`);
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 0, install.stderr);
  assertEquals(await Deno.readTextFile(`${f.log}/files/f1.txt`), "the signed file\n");
  assertEquals(
    await Deno.readFile(`${f.log}/files-augment/f2.delta`),
    await Deno.readFile(`${work}/f2.delta`),
  );
  assert(!(await Deno.stat(`${f.log}/files/f2.delta`).catch(() => undefined)));
});

Deno.test("a module that does not ask for augments, or not for the signed type, never gets one", async () => {
  for (const flag of ["no-augments", "no-original"]) {
    await using f = await deltaDevice();
    await Deno.writeTextFile(`${f.log}/${flag}`, "");
    const install = await f.ota(
      "install",
      await augmented(["mender-artifact"], `${f.dir}/a.mender`),
    );
    assertEquals(install.code, 1, flag);
    assertStringIncludes(install.stderr, "[AUGMENT_REFUSED]");
    const asked = flag === "no-augments"
      ? ["SupportsAugmentedArtifacts"]
      : ["SupportsAugmentedArtifacts", "ListSupportedOriginalTypes"];
    assertEquals((await calls(f.log)).filter((c) => c !== "Cleanup"), asked, flag);
    assertEquals((await f.ota("show-artifact")).stdout.trim(), "factory-image");
  }
});

/** A signed rootfs-image artifact whose image is only in the unsigned augment. */
async function augmentedRootfs(dir: string, deviceType: string): Promise<string> {
  await Deno.mkdir(`${dir}/unsigned/etc`, { recursive: true });
  await Deno.writeTextFile(`${dir}/unsigned/etc/slot-id`, "unsigned rootfs\n");
  await sh(["truncate", "-s", "8M", `${dir}/unsigned.ext4`]);
  await sh(["mkfs.ext4", "-q", "-F", "-d", `${dir}/unsigned`, `${dir}/unsigned.ext4`]);
  const artifact = `${dir}/rootfs-aug.mender`;
  await sh([
    ...["mender-artifact", "write", "module-image", "-T", "rootfs-image", "-n", "unsigned-1"],
    ...["-t", deviceType, "-k", key.private, "--augment-type", "rootfs-image"],
    ...["--augment-file", `${dir}/unsigned.ext4`, "-o", artifact],
  ]);
  return artifact;
}

Deno.test("ota's rootfs-image handler refuses an augmented payload, the slot untouched", async () => {
  await using f = await fixture({ config: { ArtifactVerifyKey: key.public } });
  const before = await f.slotHash(3);
  const install = await f.ota("install", await augmentedRootfs(f.dir, f.device.deviceType));
  assertEquals(install.code, 1);
  assertStringIncludes(install.stderr, "[AUGMENT_REFUSED]");
  assertEquals(await f.slotHash(3), before);
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
});

let loops = false;
try {
  Deno.statSync("/dev/loop-control");
  loops = true;
} catch { /* no loop devices here */ }

Deno.test({
  name: "Mender 3.4 refuses an augmented module payload, even for a module that asks for it",
  ignore: !menderClientAvailable(),
  async fn() {
    const dir = await Deno.makeTempDir({ dir: work });
    const log = `${dir}/module-log`;
    await Deno.mkdir(log);
    await Deno.writeTextFile(`${dir}/app-delta`, deltaModule(log), { mode: 0o755 });
    const device = await createMenderDevice(`${dir}/device`, {
      deviceType: "sim-board",
      config: { ArtifactVerifyKey: key.public },
    });
    // the signed type's module too, or Mender refuses the artifact for that alone
    for (const type of ["app-delta", "app-full"]) {
      await installModule(device, type, `${dir}/app-delta`);
    }
    const artifact = await augmented(["mender-artifact"], `${dir}/aug.mender`);
    const mender = await runMender(device, ["install", artifact]);
    assertEquals(mender.code, 1);
    assertStringIncludes(mender.stderr, "Augmented artifacts are not supported yet");
    assertEquals(await calls(log), [], "Mender 3.4 never asked the module");
    const ours = await runOta(device, "install", [artifact]);
    assertEquals(ours.code, 0, ours.stderr);
  },
});

Deno.test({
  name: "Mender 3.4 installs a signed rootfs-image whose image is unsigned; ota refuses it",
  ignore: !menderClientAvailable() || !loops || !hasCommand("mkenvimage"),
  async fn() {
    const dir = await Deno.makeTempDir({ dir: work });
    const device = await createMenderDevice(`${dir}/device`, {
      rootfs: { sizeMiB: 8 },
      rootfsScripts: { version: "3\n" },
      config: { ArtifactVerifyKey: key.public },
    });
    try {
      const artifact = await augmentedRootfs(dir, "test-device");
      const ours = await runOta(device, "install", [artifact]);
      assertEquals(ours.code, 1);
      assertStringIncludes(ours.stderr, "[AUGMENT_REFUSED]");
      assertEquals(await envGet(device, "upgrade_available"), "0");
      const mender = await runMender(device, ["install", artifact]);
      assertEquals(mender.code, 0, mender.stderr);
      assertStringIncludes(mender.stderr, "authenticated digital signature of artifact");
      assertEquals(await envGet(device, "mender_boot_part"), "3");
      assertEquals(await slotFile(device, "3", "/etc/slot-id"), "unsigned rootfs\n");
    } finally {
      await releaseMenderDevice(device);
    }
  },
});
