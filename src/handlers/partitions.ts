/**
 * Which root partition is running, and how big a partition is. Mender's rules: the active
 * partition is the one whose device node is the device of the mounted `/` (st_rdev ==
 * st_dev), else the one named by `root=` on the kernel command line. When `/` is on no
 * block device at all (UBI, an overlay, NFS: st_dev has major 0), the device that
 * /proc/self/mountinfo names as mounted on `/` is tried, and last, as Mender 3.4 falls
 * back, the slot the bootloader's `mender_boot_part` names. A block device for `/` that is
 * neither slot tells that the configuration names other disks: nothing is written then.
 */
import { promises as fs } from "node:fs";
import { fail } from "../errors.ts";

export interface Slot {
  /** The configured path, e.g. /dev/mmcblk0p2. */
  path: string;
  /** Its partition number (the trailing digits), as the bootloader names it. */
  number: number;
  label: "A" | "B";
}

export interface Slots {
  active: Slot;
  inactive: Slot;
  /** What told the running slot. */
  how: "device" | "cmdline" | "mount" | "bootenv";
}

export function partitionNumber(path: string): number {
  const match = /(\d+)$/.exec(path);
  if (!match) {
    fail(
      "CONFIG_INVALID",
      `${path} does not end in a partition number; Mender names partitions like /dev/mmcblk0p2`,
    );
  }
  return Number(match[1]);
}

/** Linux dev_t to major:minor (glibc's encoding). */
function majorMinor(dev: bigint): string {
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${majorOf(dev)}:${minor}`;
}

function majorOf(dev: bigint): bigint {
  return ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
}

async function rdevOf(path: string): Promise<bigint | undefined> {
  try {
    const stat = await fs.stat(path, { bigint: true });
    return stat.isBlockDevice() ? stat.rdev : undefined;
  } catch {
    return undefined;
  }
}

async function resolveRootArgument(cmdline: string): Promise<string | undefined> {
  const root = /(?:^|\s)root=(\S+)/.exec(cmdline)?.[1];
  if (!root) return undefined;
  const byPrefix: Record<string, string> = {
    "PARTUUID=": "/dev/disk/by-partuuid/",
    "PARTLABEL=": "/dev/disk/by-partlabel/",
    "UUID=": "/dev/disk/by-uuid/",
    "LABEL=": "/dev/disk/by-label/",
  };
  for (const [prefix, dir] of Object.entries(byPrefix)) {
    if (root.startsWith(prefix)) {
      return await fs.realpath(dir + root.slice(prefix.length)).catch(() => undefined);
    }
  }
  return await fs.realpath(root).catch(() => root);
}

export interface ActiveProbe {
  /** Device of the mounted root; defaults to stat("/"). */
  rootDev?: bigint;
  /** Kernel command line; defaults to /proc/cmdline. */
  cmdline?: string;
  /** The mount table; defaults to /proc/self/mountinfo. */
  mountInfo?: string;
  /** The bootloader's mender_boot_part, the last word when / is on no block device. */
  bootPart?: string;
}

/** What is mounted on `/` (the topmost mount), from mountinfo; octal escapes undone. */
export function rootMountSource(mountInfo: string): string | undefined {
  let source: string | undefined;
  for (const line of mountInfo.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (fields[4] === "/" && dash > 0 && fields[dash + 2]) source = fields[dash + 2];
  }
  return source?.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
}

/** A device name as Mender compares them: ubiX_Y is /dev/ubiX_Y; links resolved. */
async function canonical(path: string): Promise<string> {
  const name = /^ubi\d+_\d+$/.test(path) ? `/dev/${path}` : path;
  if (!name.startsWith("/")) return name; // "overlay", "ubi0:rootfs", "server:/export"
  return await fs.realpath(name).catch(() => name);
}

export async function findSlots(
  partA: string | undefined,
  partB: string | undefined,
  probe: ActiveProbe = {},
): Promise<Slots> {
  if (!partA || !partB) {
    fail("CONFIG_INVALID", "RootfsPartA and RootfsPartB must both be set for rootfs-image updates");
  }
  const a: Slot = { path: partA, number: partitionNumber(partA), label: "A" };
  const b: Slot = { path: partB, number: partitionNumber(partB), label: "B" };
  if (a.number === b.number) {
    fail("CONFIG_INVALID", "RootfsPartA and RootfsPartB have the same partition number");
  }
  const running = (active: Slot, how: Slots["how"]): Slots => ({
    active,
    inactive: active === a ? b : a,
    how,
  });
  const rootDev = probe.rootDev ?? (await fs.stat("/", { bigint: true })).dev;
  const [rdevA, rdevB] = await Promise.all([rdevOf(a.path), rdevOf(b.path)]);
  if (rdevA === rootDev) return running(a, "device");
  if (rdevB === rootDev) return running(b, "device");
  const [realA, realB] = await Promise.all([canonical(a.path), canonical(b.path)]);
  const named = async (device: string | undefined) => {
    const real = device === undefined ? undefined : await canonical(device);
    return real === realA ? a : real === realB ? b : undefined;
  };
  const blockRoot = majorOf(rootDev) !== 0n;
  if (!blockRoot) {
    const mountInfo = probe.mountInfo ??
      await fs.readFile("/proc/self/mountinfo", "utf8").catch(() => "");
    const mounted = await named(rootMountSource(mountInfo));
    if (mounted) return running(mounted, "mount");
  }
  const cmdline = probe.cmdline ?? await fs.readFile("/proc/cmdline", "utf8").catch(() => "");
  const fromCmdline = await named(await resolveRootArgument(cmdline));
  if (fromCmdline) return running(fromCmdline, "cmdline");
  const boot = probe.bootPart !== undefined && /^\d+$/.test(probe.bootPart)
    ? [a, b].find((slot) => slot.number === Number(probe.bootPart))
    : undefined;
  if (!blockRoot && boot) return running(boot, "bootenv");
  fail(
    "ACTIVE_PARTITION_UNKNOWN",
    blockRoot
      ? `cannot tell which root partition is running: neither ${a.path} nor ${b.path} is the device of / ` +
        `(${majorMinor(rootDev)}) or the kernel's root=; refusing to write either`
      : `cannot tell which root partition is running: / is on no block device (${
        majorMinor(rootDev)
      }: UBI, overlay, NFS?), and neither the mount table, the kernel's root= nor the ` +
        `bootloader's mender_boot_part (${probe.bootPart ?? "unset"}) names ${a.path} or ${b.path}`,
  );
}

/** Size in bytes of a partition: a block device's size from sysfs, or a regular file's length. */
export async function partitionSize(path: string): Promise<number> {
  const stat = await fs.stat(path, { bigint: true });
  if (stat.isFile()) return Number(stat.size);
  if (!stat.isBlockDevice()) {
    fail("PARTITION_INVALID", `${path} is neither a block device nor an image file`);
  }
  const sectors = await fs.readFile(`/sys/dev/block/${majorMinor(stat.rdev)}/size`, "utf8").catch(
    () => {
      fail(
        "PARTITION_INVALID",
        `cannot read the size of ${path} from /sys/dev/block/${majorMinor(stat.rdev)}`,
      );
    },
  );
  return Number(sectors.trim()) * 512;
}
