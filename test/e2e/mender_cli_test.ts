/**
 * ota as a drop-in for Mender's command line: the binary symlinked as `mender` and as
 * `mender-update` runs the command lines of Mender's standalone documentation (3.x, the
 * single-dash forms of 1.x/2.x, and 4.x with --stop-before and resume).
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { BINARY, run } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

async function links(dir: string) {
  for (const name of ["mender", "mender-update"]) await Deno.symlink(BINARY, `${dir}/${name}`);
  return { mender: `${dir}/mender`, menderUpdate: `${dir}/mender-update` };
}

Deno.test("mender 3.x: install, show-artifact, commit, rollback with global options first", async () => {
  await using f = await fixture();
  const bin = await links(f.dir);
  const g = ["-c", f.device.config, "-d", f.device.data];
  const install = await run([
    bin.mender,
    ...g,
    "--no-syslog",
    "install",
    await f.rootfsArtifact("release-2"),
  ]);
  assertEquals(install.code, 0, install.stderr);
  assertEquals((await run([bin.mender, ...g, "show-artifact"])).stdout.trim(), "factory-image");
  await f.boot();
  assertEquals((await run([bin.mender, ...g, "commit"])).code, 0);
  assertEquals((await run([bin.mender, ...g, "show-artifact"])).stdout.trim(), "release-2");
  assertEquals((await run([bin.mender, ...g, "commit"])).code, 2);
  assertEquals((await run([bin.mender, ...g, "rollback"])).code, 2);
  const reboot = await run([
    bin.mender,
    ...g,
    "install",
    "--reboot-exit-code",
    await f.rootfsArtifact("release-3"),
  ]);
  assertEquals(reboot.code, 4);
  assertEquals((await run([bin.mender, ...g, "rollback"])).code, 0);
  const provides = await run([
    bin.mender,
    "--config",
    f.device.config,
    "--data",
    f.device.data,
    "show-provides",
  ]);
  assertStringIncludes(provides.stdout, "rootfs-image.version=release-2");
});

Deno.test("mender 1.x/2.x single-dash forms: -rootfs, -install, -commit", async () => {
  await using f = await fixture();
  const bin = await links(f.dir);
  const g = ["-config", f.device.config, "-data", f.device.data];
  assertEquals(
    (await run([bin.mender, ...g, "-rootfs", await f.rootfsArtifact("release-2")])).code,
    0,
  );
  await f.boot();
  assertEquals((await run([bin.mender, ...g, "-commit"])).code, 0);
  assertEquals(
    (await run([bin.mender, ...g, "-install", await f.rootfsArtifact("release-3")])).code,
    0,
  );
  await f.boot();
  assertEquals((await run([bin.mender, ...g, "-commit"])).code, 0);
  assertEquals((await run([bin.mender, ...g, "-show-artifact"])).stdout.trim(), "release-3");
});

Deno.test("mender-update 4.x: MENDER_CONF_DIR / MENDER_DATA_DIR, --stop-before and resume", async () => {
  await using f = await fixture();
  const bin = await links(f.dir);
  await Deno.copyFile(f.device.config, `${f.device.dir}/etc/mender/mender.conf`).catch(() => {});
  const env = {
    ...Deno.env.toObject(),
    MENDER_CONF_DIR: `${f.device.dir}/etc/mender`,
    MENDER_DATA_DIR: f.device.data,
  };
  const stop = await run([
    bin.menderUpdate,
    "install",
    "--stop-before",
    "ArtifactInstall_Enter",
    await f.rootfsArtifact("release-2"),
  ], { env });
  assertEquals(stop.code, 0, stop.stderr);
  assertStringIncludes(stop.stdout, "Stopped before ArtifactInstall");
  assertEquals((await f.env()).upgrade_available, "0", "nothing switched before the pause");
  const resumed = await run([bin.menderUpdate, "resume"], { env });
  assertEquals(resumed.code, 0, resumed.stderr);
  assertStringIncludes(resumed.stdout, "Installed, but not committed.");
  assertEquals((await f.env()).upgrade_available, "1");
  await f.boot();
  assertEquals((await run([bin.menderUpdate, "commit"], { env })).code, 0);
  assertEquals(
    (await run([bin.menderUpdate, "show-artifact"], { env })).stdout.trim(),
    "release-2",
  );
  assertEquals((await run([bin.menderUpdate, "resume"], { env })).code, 2);
});

Deno.test("managed mode through mender and mender-update; unknown options fail clearly", async () => {
  await using f = await fixture();
  const bin = await links(f.dir);
  const g = ["-c", f.device.config, "-d", f.device.data];
  for (const tool of [bin.mender, bin.menderUpdate]) {
    const daemon = await run([tool, ...g, "daemon"]);
    assertEquals(daemon.code, 1, daemon.stderr);
    assertStringIncludes(daemon.stderr, "no server configured");
    assertStringIncludes(daemon.stderr, "[CONFIG_INVALID]");
    const check = await run([tool, ...g, "check-update"]);
    assertEquals(check.code, 1);
    assertStringIncludes(check.stderr, "[DAEMON_NOT_RUNNING]");
  }
  const inventory = await run([bin.mender, ...g, "-send-inventory"]);
  assertStringIncludes(inventory.stderr, "[DAEMON_NOT_RUNNING]");
  const bootstrap = await run([bin.mender, ...g, "bootstrap"]);
  assertEquals(bootstrap.code, 1);
  assertStringIncludes(bootstrap.stderr, "[NOT_SUPPORTED]");
  const unknown = await run([bin.mender, "--frobnicate"]);
  assertEquals(unknown.code, 1);
  assertStringIncludes(unknown.stderr, "[BAD_ARGUMENTS]");
  assertStringIncludes((await run([bin.mender, "--version"])).stdout, ".");
});
