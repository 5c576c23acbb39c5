/**
 * rootfs-image on a board switched between the REAL Mender client 3.4 and ota on one data
 * directory: Mender's commit is what ota reports and depends on; an update Mender installed
 * but did not commit, ota commits after the reboot, or rolls back (after the reboot and
 * before it), from the bootloader environment alone; and what ota commits, Mender reports.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  bootDevice,
  createMenderDevice,
  envGet,
  menderClientAvailable,
  type MenderDevice,
  releaseMenderDevice,
  runMender,
  runOta,
  showArtifact,
  showProvides,
  slotFile,
} from "../helpers/mender_client.ts";
import { type RunResult, sh } from "../helpers/mod.ts";

let loops = false;
try {
  Deno.statSync("/dev/loop-control");
  loops = true;
} catch { /* no loop devices here */ }
const ignore = !menderClientAvailable() || !loops;

async function withBoard(fn: (device: MenderDevice, work: string) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "ota-mender-store-rootfs-" });
  const device = await createMenderDevice(`${work}/device`, { rootfs: { sizeMiB: 8 } });
  try {
    await fn(device, work);
  } finally {
    await releaseMenderDevice(device);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function rootfsArtifact(work: string, name: string, depends?: string): Promise<string> {
  await Deno.mkdir(`${work}/${name}/etc`, { recursive: true });
  await Deno.writeTextFile(`${work}/${name}/etc/slot-id`, `${name} rootfs\n`);
  await sh(["truncate", "-s", "8M", `${work}/${name}.ext4`]);
  await sh(["mkfs.ext4", "-q", "-F", "-d", `${work}/${name}`, `${work}/${name}.ext4`]);
  const out = `${work}/${name}.mender`;
  await sh([
    "mender-artifact",
    "write",
    "rootfs-image",
    "-n",
    name,
    "-t",
    "test-device",
    ...(depends ? ["--artifact-name-depends", depends] : []),
    "-f",
    `${work}/${name}.ext4`,
    "-o",
    out,
  ]);
  return out;
}

const ota = (d: MenderDevice, command: string, args: string[] = []) =>
  runOta(d, command, args, { dataDir: d.dataDir });
const mender = (d: MenderDevice, command: string, args: string[] = []) =>
  runMender(d, [command, ...args], { logLevel: "error" });

function ok(result: RunResult, what: string) {
  assertEquals(result.code, 0, `${what}: ${result.stdout}\n${result.stderr}`);
}

const env = async (d: MenderDevice) =>
  [await envGet(d, "mender_boot_part"), await envGet(d, "upgrade_available")].join("/");

/** Both clients' show-artifact and show-provides, which must agree. */
async function same(d: MenderDevice): Promise<string> {
  const name = await showArtifact(d, "mender");
  const otaName = await ota(d, "show-artifact");
  assertEquals(otaName.stdout.trim(), name, otaName.stderr);
  const provides = await showProvides(d, "mender");
  const otaProvides = await ota(d, "show-provides");
  assertEquals(
    otaProvides.stdout,
    Object.keys(provides).sort().map((k) => `${k}=${provides[k]}\n`).join(""),
  );
  return name;
}

Deno.test({
  name: "mender store rootfs: ota carries on from Mender 3.4's commit, and Mender from ota's",
  ignore,
  fn: () =>
    withBoard(async (d, work) => {
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-2")]), "mender install");
      assertEquals(await bootDevice(d), "3");
      ok(await mender(d, "commit"), "mender commit");
      assertEquals(await same(d), "rel-2");
      assertEquals((await showProvides(d, "mender"))["rootfs-image.version"], "rel-2");
      // ota's next install depends on the name Mender committed
      const next = await rootfsArtifact(work, "rel-3", "rel-2");
      ok(await ota(d, "install", [next]), "ota install depending on Mender's name");
      assertEquals(await env(d), "2/1");
      assertEquals(await bootDevice(d), "2");
      ok(await ota(d, "commit"), "ota commit");
      assertEquals(await env(d), "2/0");
      assertEquals(await same(d), "rel-3");
      // Mender, switched back, installs what depends on ota's commit
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-4", "rel-3")]), "mender");
      assertEquals(await bootDevice(d), "3");
      ok(await mender(d, "commit"), "mender commit");
      assertEquals(await same(d), "rel-4");
      assertStringIncludes(await slotFile(d, "3", "/etc/slot-id"), "rel-4 rootfs");
    }),
});

Deno.test({
  name:
    "mender store rootfs: an update Mender 3.4 left uncommitted, committed or rolled back by ota",
  ignore,
  fn: () =>
    withBoard(async (d, work) => {
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-2")]), "mender install");
      assertEquals(await env(d), "3/1");
      // not rebooted yet: ota refuses to commit, as it does its own updates
      const early = await ota(d, "commit");
      assertEquals(early.code, 1);
      assertStringIncludes(early.stderr, "[NOT_REBOOTED]");
      assertEquals(await bootDevice(d), "3");
      ok(await ota(d, "commit"), "ota commit after the reboot");
      assertEquals(await env(d), "3/0");
      assertEquals(await same(d), "rel-2");
      assertEquals((await mender(d, "commit")).code, 2, "nothing left for Mender");

      // installed and rebooted into, then rolled back by ota: back to the slot it came from
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-3")]), "mender install");
      assertEquals(await bootDevice(d), "2");
      assertEquals(await env(d), "2/1");
      ok(await ota(d, "rollback"), "ota rollback on the new slot");
      assertEquals(await env(d), "3/0");
      assertEquals(await bootDevice(d), "3");
      assertEquals(await same(d), "rel-2");

      // installed, not rebooted: the rollback keeps the running slot
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-4")]), "mender install");
      assertEquals(await env(d), "2/1");
      ok(await ota(d, "rollback"), "ota rollback before the reboot");
      assertEquals(await env(d), "3/0");
      assertEquals(await bootDevice(d), "3");
      assertEquals(await same(d), "rel-2");

      // the bootloader gave up on the new slot: ota refuses the commit and rolls back
      ok(await mender(d, "install", [await rootfsArtifact(work, "rel-5")]), "mender install");
      await bootDevice(d); // boots slot 2 and counts the boot
      assertEquals(await bootDevice(d), "3", "past bootlimit U-Boot went back");
      assertEquals(await env(d), "3/0");
      const refused = await ota(d, "commit");
      assertEquals(refused.code, 1, refused.stderr);
      assertEquals(await same(d), "rel-2");
      assertEquals((await ota(d, "commit")).code, 2, "the failed update is over");
    }),
});
