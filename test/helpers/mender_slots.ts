/**
 * The simulated board under the real Mender client: two ext4 slot images on loop devices,
 * a U-Boot environment in a file for the real fw_printenv/fw_setenv, and a model of
 * U-Boot's boot counting for a power-on (see mender_client.ts for why the running slot is a
 * device node of its own).
 */
import type { MenderDevice, RootfsOptions } from "./mender_client.ts";
import { run, sh } from "./mod.ts";

const ENV_SIZE = "0x4000";

export async function releaseMenderDevice(device: MenderDevice): Promise<void> {
  if (!device.rootfs) return;
  for (const image of ["part_a.img", "part_b.img"]) {
    for (const loop of await loopsOf(`${device.dir}/${image}`)) {
      await run(["losetup", "-d", loop]);
    }
  }
}

export async function envGet(device: MenderDevice, name: string): Promise<string> {
  const result = await run(["fw_printenv", "-c", `${device.dir}/fw_env.config`, "-n", name]);
  return result.code === 0 ? result.stdout.trim() : "";
}

export async function envSet(device: MenderDevice, values: Record<string, string>) {
  const script = Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join("");
  await sh(["fw_setenv", "-c", `${device.dir}/fw_env.config`, "-s", "-"], { stdin: script });
}

/** The slot (2 = A, 3 = B) the simulated board is running. */
export async function bootedSlot(device: MenderDevice): Promise<string> {
  return (await Deno.readTextFile(`${device.dir}/booted`)).trim();
}

/**
 * One power-on of the board, with U-Boot's boot-count logic as Mender's integration
 * uses it: with upgrade_available=1 count the boot, and past bootlimit switch back to the
 * other slot and clear upgrade_available. Returns the slot that now runs.
 */
export async function bootDevice(device: MenderDevice): Promise<string> {
  let part = await envGet(device, "mender_boot_part");
  if (await envGet(device, "upgrade_available") === "1") {
    const count = Number(await envGet(device, "bootcount") || "0") + 1;
    const limit = Number(await envGet(device, "bootlimit") || "1");
    const values: Record<string, string> = { bootcount: String(count) };
    if (count > limit) {
      part = part === "2" ? "3" : "2";
      Object.assign(values, {
        mender_boot_part: part,
        mender_boot_part_hex: part,
        upgrade_available: "0",
      });
    }
    await envSet(device, values);
  }
  await Deno.writeTextFile(`${device.dir}/booted`, `${part}\n`);
  await ensureLoops(device);
  return part;
}

/** Reads a file out of a slot image (debugfs, no mount needed). */
export async function slotFile(device: MenderDevice, slot: string, path: string) {
  const image = `${device.dir}/${slot === "2" ? "part_a.img" : "part_b.img"}`;
  return await sh(["debugfs", "-R", `cat ${path}`, image]);
}

export async function createSlots(device: MenderDevice, options: RootfsOptions) {
  const { dir } = device;
  const size = `${options.sizeMiB ?? 16}M`;
  for (const [slot, label] of [["a", "A"], ["b", "B"]]) {
    const root = `${dir}/tmp-rootfs-${slot}`;
    await Deno.mkdir(`${root}/etc`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/slot-id`, `factory image, slot ${label}\n`);
    for (const [path, content] of Object.entries(options.files ?? {})) {
      const target = `${root}/${path.replace(/^\/+/, "")}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(target, content);
    }
    await sh(["truncate", "-s", size, `${dir}/part_${slot}.img`]);
    await sh([
      "mkfs.ext4",
      "-q",
      "-F",
      "-L",
      `rootfs-${slot}`,
      "-d",
      root,
      `${dir}/part_${slot}.img`,
    ]);
    await Deno.remove(root, { recursive: true });
  }
  await Deno.writeTextFile(
    `${dir}/uboot.env.txt`,
    "mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\nbootlimit=1\n",
  );
  await sh(["mkenvimage", "-s", ENV_SIZE, "-o", `${dir}/uboot.env`, `${dir}/uboot.env.txt`]);
  await Deno.writeTextFile(`${dir}/fw_env.config`, `${dir}/uboot.env 0x0 ${ENV_SIZE}\n`);
  await Deno.writeTextFile(`${dir}/booted`, "2\n");
  // The client takes the device `mount` lists on "/" as the running slot.
  await Deno.writeTextFile(
    `${dir}/bin/mount`,
    `#!/bin/sh
if [ $# -eq 0 ]; then
    echo "${dir}/dev/mmcblk0p$(cat "${dir}/booted") on / type ext4 (rw,relatime)"
    /usr/bin/mount | grep -v ' on / type ' || true
    exit 0
fi
exec /usr/bin/mount "$@"
`,
    { mode: 0o755 },
  );
  await ensureLoops(device);
}

async function loopsOf(image: string): Promise<string[]> {
  const out = await run(["losetup", "-j", image, "-O", "NAME", "-n"]);
  return out.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** Points mmcblk0p2/p3 at the running slot's node and the idle slot's loop device. */
export async function ensureLoops(device: MenderDevice) {
  const { dir } = device;
  const node = `${dir}/dev/rootfs-node`;
  try {
    Deno.statSync(node);
  } catch {
    const [major, minor] = (await sh(["stat", "-c", "%Hd %Ld", "/"])).trim().split(" ");
    if (!major || !minor) throw new Error("stat printed no device number for /");
    await sh(["mknod", "-m", "000", node, "b", major, minor]);
  }
  const booted = await bootedSlot(device);
  for (const [image, slot] of [["part_a.img", "2"], ["part_b.img", "3"]]) {
    let loop = (await loopsOf(`${dir}/${image}`))[0];
    if (!loop) loop = (await sh(["losetup", "-f", "--show", `${dir}/${image}`])).trim();
    const link = `${dir}/dev/mmcblk0p${slot}`;
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(slot === booted ? "rootfs-node" : loop, link);
  }
}
