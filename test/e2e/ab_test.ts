/**
 * Standalone A/B updates with the compiled binary on a simulated U-Boot device: the real
 * fw_printenv/fw_setenv on a file-backed environment, a model of U-Boot's boot counting.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  xorAt,
} from "../helpers/assert.ts";
import { ecKey, rsaKey } from "../helpers/keys.ts";
import { fixture } from "./fixture.ts";

Deno.test("install, reboot, commit: the new slot runs and the name changes only at commit", async () => {
  await using f = await fixture();
  const artifact = await f.rootfsArtifact("release-2");
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 0, install.stderr);
  assertStringIncludes(install.stdout, "Installed, but not committed.");
  assertEquals(await f.state(), {
    part: "3",
    upgrade: "1",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals((await f.env()).bootcount, "0");
  const booted = await f.boot();
  assertEquals(booted, { part: 3, rolledBack: false, slotId: "release-2 rootfs" });
  const commit = await f.ota("commit");
  assertEquals(commit.code, 0, commit.stderr);
  assertStringIncludes(commit.stdout, "Committed.");
  assertEquals(await f.state(), { part: "3", upgrade: "0", booted: "3", artifact: "release-2" });
  const provides = await f.ota("show-provides");
  assertMatch(provides.stdout, /^artifact_name=release-2$/m);
  assertMatch(provides.stdout, /^rootfs-image\.checksum=[0-9a-f]{64}$/m);
  assertMatch(provides.stdout, /^rootfs-image\.version=release-2$/m);
  const again = await f.ota("commit");
  assertEquals(again.code, 2);
  assertStringIncludes(again.stdout, "No update in progress.");
  // the next update goes to slot A, which is idle now
  const next = await f.ota("install", await f.rootfsArtifact("release-3"));
  assertEquals(next.code, 0, next.stderr);
  assertEquals((await f.env()).mender_boot_part, "2");
});

Deno.test("rollback before the reboot puts the bootloader back", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  const rollback = await f.ota("rollback");
  assertEquals(rollback.code, 0, rollback.stderr);
  assertStringIncludes(rollback.stdout, "Rolled back.");
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals((await f.boot()).slotId, "factory image, slot A");
  assertEquals((await f.ota("rollback")).code, 2);
});

Deno.test("rollback from the new system returns to the old one at the next boot", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  await f.boot();
  const rollback = await f.ota("rollback");
  assertEquals(rollback.code, 0, rollback.stderr);
  assertEquals((await f.boot()).slotId, "factory image, slot A");
  assertEquals((await f.state()).artifact, "factory-image");
});

Deno.test("a new system that never commits: the bootloader falls back and commit is refused", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  assertEquals((await f.boot()).part, 3);
  const second = await f.boot();
  assertEquals(second, { part: 2, rolledBack: true, slotId: "factory image, slot A" });
  const commit = await f.ota("commit");
  assertEquals(commit.code, 1);
  assertStringIncludes(commit.stderr, "[ROLLED_BACK]");
  assertEquals(commit.stderr.trim().split("\n").filter((l) => l.startsWith("ota:")).length, 1);
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals((await f.ota("commit")).code, 2, "the failed update is cleaned up");
});

Deno.test("commit before rebooting is refused and the update stays pending", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  const early = await f.ota("commit");
  assertEquals(early.code, 1);
  assertStringIncludes(early.stderr, "[NOT_REBOOTED]");
  assertEquals(await f.state(), {
    part: "3",
    upgrade: "1",
    booted: "2",
    artifact: "factory-image",
  });
  await f.boot();
  assertEquals((await f.ota("commit")).code, 0);
  assertEquals((await f.state()).artifact, "release-2");
});

Deno.test("a second install while one is pending is refused and writes nothing", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  const slotB = await f.slotHash(3);
  const second = await f.ota("install", await f.rootfsArtifact("release-3"));
  assertEquals(second.code, 1);
  assertStringIncludes(second.stderr, "[UPDATE_IN_PROGRESS]");
  assertEquals(await f.slotHash(3), slotB);
});

Deno.test("a corrupt payload is never booted: the bootloader is not switched", async () => {
  await using f = await fixture();
  const artifact = await f.rootfsArtifact("release-2", { extra: ["--compression", "none"] });
  const bytes = await Deno.readFile(artifact);
  xorAt(bytes, bytes.length - 1024 - 8 * 1024 * 1024, 0xff); // inside the image, in the data member
  await Deno.writeFile(artifact, bytes);
  const install = await f.ota("install", artifact);
  assertEquals(install.code, 1);
  assertStringIncludes(install.stderr, "[CHECKSUM_MISMATCH]");
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals((await f.ota("commit")).code, 2);
});

Deno.test("wrong device type, unmet depends, too large: refused before a byte is written", async () => {
  await using f = await fixture();
  const slotB = await f.slotHash(3);
  const cases: [string, string][] = [
    [await f.rootfsArtifact("other-board", { deviceType: "other-board" }), "ARTIFACT_INCOMPATIBLE"],
    [
      await f.rootfsArtifact("needs-rel-1", { extra: ["-N", "release-1"] }),
      "ARTIFACT_INCOMPATIBLE",
    ],
    [
      await f.rootfsArtifact("needs-provide", { extra: ["-d", "hw.rev:3"] }),
      "ARTIFACT_INCOMPATIBLE",
    ],
    [await f.rootfsArtifact("too-big", { sizeMiB: 20 }), "ROOTFS_TOO_LARGE"],
  ];
  for (const [artifact, code] of cases) {
    const result = await f.ota("install", artifact);
    assertEquals(result.code, 1, `${artifact}: ${result.stderr}`);
    assertStringIncludes(result.stderr, `[${code}]`);
    assertEquals(await f.slotHash(3), slotB, `${artifact} wrote to the partition`);
    assertEquals(await f.state(), {
      part: "2",
      upgrade: "0",
      booted: "2",
      artifact: "factory-image",
    });
  }
});

Deno.test("with verification keys, only artifacts signed by one of them install", async () => {
  const keysDir = await Deno.makeTempDir();
  const rsa = await rsaKey(keysDir, 2048), ec = await ecKey(keysDir);
  await using f = await fixture({ config: { ArtifactVerifyKeys: [rsa.public] } });
  const slotB = await f.slotHash(3);
  const unsigned = await f.ota("install", await f.rootfsArtifact("unsigned"));
  assertEquals(unsigned.code, 1);
  assertStringIncludes(unsigned.stderr, "[SIGNATURE_MISSING]");
  const wrong = await f.ota(
    "install",
    await f.rootfsArtifact("wrong-key", { extra: ["-k", ec.private] }),
  );
  assertEquals(wrong.code, 1);
  assertStringIncludes(wrong.stderr, "[SIGNATURE_INVALID]");
  assertEquals(await f.slotHash(3), slotB);
  const good = await f.ota(
    "install",
    await f.rootfsArtifact("signed", { extra: ["-k", rsa.private] }),
  );
  assertEquals(good.code, 0, good.stderr);
  await Deno.remove(keysDir, { recursive: true });
});

/** Whether the host's / is on no block device (a container's overlay): then ota, as Mender, takes mender_boot_part. */
const rootOnNoBlockDevice = ((Deno.statSync("/").dev ?? 0) >> 8 & 0xfff) === 0;

Deno.test({
  name: "when the running partition cannot be told, nothing is written",
  // the fallback to mender_boot_part there is tested in test/handlers/active_slot_test.ts
  ignore: rootOnNoBlockDevice,
}, async () => {
  await using f = await fixture();
  // the running slot no longer carries the device number of "/": as if the config named other disks
  await Deno.remove(`${f.device.dir}/dev/mmcblk0p2`);
  await Deno.symlink(`${f.device.dir}/part_a.img`, `${f.device.dir}/dev/mmcblk0p2`);
  const slotA = await f.slotHash(2), slotB = await f.slotHash(3);
  const result = await f.ota("install", await f.rootfsArtifact("release-2"));
  assertEquals(result.code, 1);
  assertStringIncludes(result.stderr, "[ACTIVE_PARTITION_UNKNOWN]");
  assertEquals([await f.slotHash(2), await f.slotHash(3)], [slotA, slotB]);
});

Deno.test("--reboot-exit-code exits 4 when a reboot is needed; errors carry no stack trace", async () => {
  await using f = await fixture();
  const install = await f.ota("install", "--reboot-exit-code", await f.rootfsArtifact("release-2"));
  assertEquals(install.code, 4, install.stderr);
  await f.ota("rollback");
  const missing = await f.ota("install", `${f.dir}/nope.mender`);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.stderr, "[SOURCE_NOT_FOUND]");
  assert(!/\n\s+at /.test(missing.stderr), missing.stderr);
});

Deno.test("--progress=json prints one JSON line per step and percent", async () => {
  await using f = await fixture();
  const install = await f.ota(
    "install",
    "--progress=json",
    await f.rootfsArtifact("release-2", { extra: ["--compression", "none"] }),
  );
  assertEquals(install.code, 0, install.stderr);
  const events = install.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l)
  );
  assertEquals(events[0].event, "start");
  assertEquals(events.at(-1).event, "done");
  const percents = events.filter((e) => e.event === "progress").map((e) => e.percent);
  assert(percents.length >= 10, `only ${percents.length} progress lines`);
  assertEquals(percents, [...percents].sort((a, b) => a - b));
});
