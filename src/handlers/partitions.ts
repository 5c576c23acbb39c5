/**
 * Which root partition is running, and how big a partition is. Mender's rules: the active
 * partition is the one whose device node is the device of the mounted `/` (st_rdev ==
 * st_dev), else the one named by `root=` on the kernel command line. If neither tells,
 * nothing is written: guessing could overwrite the running system.
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
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
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
  const rootDev = probe.rootDev ?? (await fs.stat("/", { bigint: true })).dev;
  const [rdevA, rdevB] = await Promise.all([rdevOf(a.path), rdevOf(b.path)]);
  if (rdevA === rootDev) return { active: a, inactive: b };
  if (rdevB === rootDev) return { active: b, inactive: a };
  const cmdline = probe.cmdline ?? await fs.readFile("/proc/cmdline", "utf8").catch(() => "");
  const root = await resolveRootArgument(cmdline);
  if (root) {
    const [realA, realB] = await Promise.all(
      [a.path, b.path].map((p) => fs.realpath(p).catch(() => p)),
    );
    if (root === realA) return { active: a, inactive: b };
    if (root === realB) return { active: b, inactive: a };
  }
  fail(
    "ACTIVE_PARTITION_UNKNOWN",
    `cannot tell which root partition is running: neither ${a.path} nor ${b.path} is the device of / ` +
      `(${majorMinor(rootDev)}) or the kernel's root=; refusing to write either`,
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
