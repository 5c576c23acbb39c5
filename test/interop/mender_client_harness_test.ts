/**
 * The harness that runs the REAL Mender client 3.4 (test/helpers/mender_client.ts), in its
 * rootfs mode: A/B slot images on loop devices, a U-Boot environment in a file, the fake
 * `mount`. The client must write the idle slot, flip the environment, commit after a
 * boot, and the U-Boot model must fall back when the new slot is never committed. Other
 * tests (rootfs interop, state-script order) build on this.
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
  showArtifact,
  slotFile,
} from "../helpers/mender_client.ts";
import { hasCommand, sh } from "../helpers/mod.ts";

let loops = false;
try {
  Deno.statSync("/dev/loop-control");
  loops = true;
} catch { /* no loop devices here */ }
const ignore = !menderClientAvailable() || !loops || !hasCommand("mkenvimage");

async function withDevice(fn: (device: MenderDevice, work: string) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "ota-harness-" });
  const device = await createMenderDevice(`${work}/device`, {
    rootfs: { sizeMiB: 8 },
    rootfsScripts: {
      "version": "3\n",
    },
  });
  try {
    await fn(device, work);
  } finally {
    await releaseMenderDevice(device);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function rootfsArtifact(work: string, name: string): Promise<string> {
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
    "-f",
    `${work}/${name}.ext4`,
    "-o",
    out,
  ]);
  return out;
}

const env = async (d: MenderDevice) =>
  [
    await envGet(d, "mender_boot_part"),
    await envGet(d, "upgrade_available"),
    await envGet(d, "bootcount"),
  ].join("/");

Deno.test({
  name: "harness: the real client installs to the idle slot, boots it and commits",
  ignore,
  fn: () =>
    withDevice(async (device, work) => {
      assertEquals(await env(device), "2/0/0");
      const artifact = await rootfsArtifact(work, "release-2");
      const install = await runMender(device, ["install", artifact]);
      assertEquals(install.code, 0, install.stderr);
      assertStringIncludes(install.stdout, "At least one payload requested a reboot");
      assertEquals(await env(device), "3/1/0");
      assertEquals(await slotFile(device, "3", "/etc/slot-id"), "release-2 rootfs\n");
      assertEquals(await slotFile(device, "2", "/etc/slot-id"), "factory image, slot A\n");
      assertEquals(await bootDevice(device), "3");
      const commit = await runMender(device, ["commit"]);
      assertEquals(commit.code, 0, commit.stderr);
      assertEquals(await env(device), "3/0/1");
      assertEquals(await showArtifact(device), "release-2");
    }),
});

Deno.test({
  name: "harness: an uncommitted slot is abandoned by the U-Boot model on the second boot",
  ignore,
  fn: () =>
    withDevice(async (device, work) => {
      const artifact = await rootfsArtifact(work, "release-3");
      assertEquals((await runMender(device, ["install", artifact])).code, 0);
      assertEquals(await bootDevice(device), "3");
      assertEquals(await bootDevice(device), "2");
      assertEquals(await env(device), "2/0/2");
      const commit = await runMender(device, ["commit"]);
      assertEquals(commit.code, 1);
      assertEquals(await showArtifact(device), "factory-image");
    }),
});
