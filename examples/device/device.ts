/**
 * A simulated A/B device in a directory: two partition images, a U-Boot environment in a
 * file driven by the real fw_printenv/fw_setenv, a device_type, and a mender.conf that
 * points ota (and Mender's own client) at them.
 *
 *   DIR/part_a.img, part_b.img      ext4 root filesystems, slot A and slot B
 *   DIR/dev/mmcblk0p2, mmcblk0p3    the slots by the names the bootloader uses (partition 2 and 3);
 *                                   the running one links to DIR/dev/rootfs-node, a block node with
 *                                   the device number of the host's "/", so the client recognises it
 *                                   as the mounted root exactly as on a board; the other links to its
 *                                   image (or to a loop device over it, for Mender's client)
 *   DIR/booted                      the partition number that "runs"
 *   DIR/uboot.env, fw_env.config    the U-Boot environment (mkenvimage), redundant if asked,
 *   or DIR/grubenv/                 GRUB's, as grub-mender-grubenv keeps it (bootenv.ts)
 *   DIR/etc/mender/mender.conf      configuration; DIR/etc/mender/artifact_info; DIR/etc/mender/scripts
 *   DIR/data/device_type            the data directory (--data)
 *   DIR/modules                     Update Modules directory
 *
 * Needs root (mknod) and Debian's e2fsprogs, u-boot-tools and libubootenv-tool.
 */
import { type Bootloader, createBootEnv } from "./bootenv.ts";
import { run, sh } from "./exec.ts";

export { envDump, envSet } from "./bootenv.ts";

export interface DeviceOptions {
  deviceType?: string;
  /** Size of each slot in MiB. */
  partitionMiB?: number;
  artifactName?: string;
  /** Back the idle slot with a loop device (Mender's client needs block devices). */
  loopDevices?: boolean;
  /** Two copies of the environment, as on most boards. */
  redundantEnv?: boolean;
  /** Extra mender.conf keys. */
  config?: Record<string, unknown>;
  /** U-Boot (the default) or GRUB. */
  bootloader?: Bootloader;
}

export interface Device {
  dir: string;
  config: string;
  data: string;
  deviceType: string;
  loopDevices: boolean;
  bootloader: Bootloader;
}

export function slotImage(dir: string, part: number): string {
  return `${dir}/${part === 2 ? "part_a" : "part_b"}.img`;
}

export async function makeRootfs(
  path: string,
  sizeMiB: number,
  files: Record<string, string>,
  label = "rootfs",
): Promise<void> {
  const root = `${path}.d`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  for (const [name, content] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${name.split("/").slice(0, -1).join("/")}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${name}`, content);
  }
  await Deno.remove(path).catch(() => {});
  await sh(["truncate", "-s", `${sizeMiB}M`, path]);
  await sh(["mkfs.ext4", "-q", "-F", "-L", label, "-d", root, path]);
  await Deno.remove(root, { recursive: true });
}

async function loopFor(image: string): Promise<string> {
  const found = (await sh(["losetup", "-j", image, "-O", "NAME", "-n"])).trim().split("\n")[0];
  return found || (await sh(["losetup", "-f", "--show", image])).trim();
}

/** Points the slot names at the running node and the idle image, after a (re)boot. */
export async function linkSlots(device: Device): Promise<void> {
  const booted = Number((await Deno.readTextFile(`${device.dir}/booted`)).trim());
  for (const part of [2, 3]) {
    const link = `${device.dir}/dev/mmcblk0p${part}`;
    const image = slotImage(device.dir, part);
    const target = part === booted
      ? "rootfs-node"
      : device.loopDevices
      ? await loopFor(image)
      : image;
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(target, link);
  }
}

export async function releaseLoops(device: Device): Promise<void> {
  for (const part of [2, 3]) {
    const loops = (await run(["losetup", "-j", slotImage(device.dir, part), "-O", "NAME", "-n"]))
      .stdout.trim();
    for (const loop of loops.split("\n").filter(Boolean)) await run(["losetup", "-d", loop]);
  }
}

export async function makeDevice(dir: string, options: DeviceOptions = {}): Promise<Device> {
  const deviceType = options.deviceType ?? "sim-board";
  const size = options.partitionMiB ?? 64;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const sub of ["dev", "data", "etc/mender/scripts", "modules", "bin"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  dir = await Deno.realPath(dir);
  const device: Device = {
    dir,
    config: `${dir}/etc/mender/mender.conf`,
    data: `${dir}/data`,
    deviceType,
    loopDevices: options.loopDevices ?? false,
    bootloader: options.bootloader ?? "uboot",
  };

  for (const [part, slot] of [[2, "A"], [3, "B"]] as const) {
    await makeRootfs(
      slotImage(dir, part),
      size,
      { "etc/slot-id": `factory image, slot ${slot}\n` },
      `rootfs-${slot.toLowerCase()}`,
    );
  }
  const [major, minor] = (await sh(["stat", "-c", "%Hd %Ld", "/"])).trim().split(" ");
  if (!major || !minor) throw new Error("stat printed no device number for /");
  await sh(["mknod", "-m", "000", `${dir}/dev/rootfs-node`, "b", major, minor]);
  await Deno.writeTextFile(`${dir}/booted`, "2\n");
  await linkSlots(device);

  const bootConfig = await createBootEnv(device, options.redundantEnv);

  const config = {
    RootfsPartA: `${dir}/dev/mmcblk0p2`,
    RootfsPartB: `${dir}/dev/mmcblk0p3`,
    DeviceTypeFile: `${dir}/data/device_type`,
    ...bootConfig,
    ScriptsDir: `${dir}/etc/mender/scripts`,
    ModulesDir: `${dir}/modules`,
    ArtifactInfoFile: `${dir}/etc/mender/artifact_info`,
    RetryDownloadMaxIntervalSeconds: 1,
    ...options.config,
  };
  await Deno.writeTextFile(device.config, JSON.stringify(config, null, 2) + "\n");
  await Deno.writeTextFile(
    `${dir}/etc/mender/artifact_info`,
    `artifact_name=${options.artifactName ?? "factory-image"}\n`,
  );
  await Deno.writeTextFile(`${dir}/data/device_type`, `device_type=${deviceType}\n`);
  return device;
}

/** The text of a file inside a slot's ext4 image (debugfs, no mount needed). */
export async function slotFile(device: Device, part: number, path: string): Promise<string> {
  return (await run(["debugfs", "-R", `cat ${path}`, slotImage(device.dir, part)])).stdout;
}
