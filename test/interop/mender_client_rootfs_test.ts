/**
 * ota and the real Mender client 3.4 on the same simulated board: Mender installs v1, ota
 * installs v2 and commits, Mender installs v3. The bootloader variables each client
 * writes are the ones the other expects, so they hand the board over cleanly.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  bootDevice,
  createMenderDevice,
  envGet,
  menderClientAvailable,
  type MenderDevice,
  releaseMenderDevice,
  runClient,
  showArtifact,
  slotFile,
} from "../helpers/mender_client.ts";
import { ota, sh } from "../helpers/mod.ts";

const ignore = !menderClientAvailable();

async function rootfsArtifact(dir: string, name: string): Promise<string> {
  const root = `${dir}/${name}.d`;
  await Deno.mkdir(`${root}/etc`, { recursive: true });
  await Deno.writeTextFile(`${root}/etc/slot-id`, `${name} rootfs\n`);
  await sh(["truncate", "-s", "16M", `${dir}/${name}.ext4`]);
  await sh(["mkfs.ext4", "-q", "-F", "-d", root, `${dir}/${name}.ext4`]);
  const artifact = `${dir}/${name}.mender`;
  const write = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    name,
    "-t",
    "test-device",
    "-f",
    `${dir}/${name}.ext4`,
    "-o",
    artifact,
  ]);
  if (write.code !== 0) throw new Error(write.stderr);
  return artifact;
}

async function env(device: MenderDevice): Promise<string> {
  const names = ["mender_boot_part", "mender_boot_part_hex", "upgrade_available", "bootcount"];
  return (await Promise.all(names.map((n) => envGet(device, n)))).join("/");
}

Deno.test({
  name: "Mender installs v1, ota installs v2, Mender installs v3 on the same board",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-handover-" });
    const device = await createMenderDevice(`${dir}/device`, { rootfs: true });
    try {
      const steps: [string, "mender" | "ota", string, string][] = [
        ["v1", "mender", "3/3/1/0", "2"],
        ["v2", "ota", "2/2/1/0", "3"],
        ["v3", "mender", "3/3/1/0", "2"],
      ];
      let expectedSlot = "2";
      for (const [name, client, envAfterInstall, fromSlot] of steps) {
        assertEquals(expectedSlot, fromSlot);
        const artifact = await rootfsArtifact(dir, name);
        const install = await runClient(client, device, "install", [artifact]);
        assertEquals(install.code, 0, `${client} install ${name}: ${install.stderr}`);
        assertEquals(await env(device), envAfterInstall, `env after ${client} installed ${name}`);
        const booted = await bootDevice(device);
        assertEquals((await slotFile(device, booted, "/etc/slot-id")).trim(), `${name} rootfs`);
        const commit = await runClient(client, device, "commit");
        assertEquals(commit.code, 0, `${client} commit ${name}: ${commit.stderr}`);
        assertEquals((await env(device)).split("/").slice(0, 3).join("/"), `${booted}/${booted}/0`);
        assertEquals(await showArtifact(device, client), name);
        expectedSlot = booted;
      }
    } finally {
      await releaseMenderDevice(device);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "after an ota update, Mender's client still refuses to commit what the bootloader rolled back",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-handover-" });
    const device = await createMenderDevice(`${dir}/device`, { rootfs: true });
    try {
      const v2 = await rootfsArtifact(dir, "v2");
      assertEquals((await runClient("ota", device, "install", [v2])).code, 0);
      await bootDevice(device);
      assertEquals((await runClient("ota", device, "commit")).code, 0);
      // the real client now installs v3 from slot B; the new system never commits
      const v3 = await rootfsArtifact(dir, "v3");
      assertEquals((await runClient("mender", device, "install", [v3])).code, 0);
      assertEquals(await bootDevice(device), "2");
      assertEquals(
        await bootDevice(device),
        "3",
        "bootloader falls back to the slot ota committed",
      );
      const commit = await runClient("mender", device, "commit");
      assertEquals(commit.code, 1);
      assertStringIncludes(commit.stderr, "upgrade_available");
      assertEquals(await env(device), "3/3/0/2");
    } finally {
      await releaseMenderDevice(device);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
