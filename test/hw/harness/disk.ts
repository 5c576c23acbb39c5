/**
 * The board's disk, laid out like a Mender image:
 *   0 - 16 MiB   MBR; U-Boot's environment copies at 0x400000 and 0x800000 (or GRUB's
 *                core.img right after the MBR)
 *   p1 16 MiB    boot (FAT): the boot script or grub.cfg and the GRUB environment
 *   p2 48 MiB    root filesystem A (/dev/vda2)
 *   p3 304 MiB   root filesystem B (/dev/vda3)
 *   p4 560 MiB   data (/dev/vda4, ext4, persistent: /data/mender is ota's data directory)
 * A plain partition table and dd: the same steps would write a real board's eMMC.
 */
import { sh } from "./host.ts";

export const SLOT_MIB = 256;
const LAYOUT = {
  boot: [16, 32],
  a: [48, SLOT_MIB],
  b: [304, SLOT_MIB],
  data: [560, 128],
} as const;
export const DISK_MIB = 688;

async function place(disk: string, image: string, atMiB: number): Promise<void> {
  await sh([
    "dd",
    `if=${image}`,
    `of=${disk}`,
    "bs=1M",
    `seek=${atMiB}`,
    "conv=notrunc,sparse",
    "status=none",
  ]);
}

export async function fatImage(out: string, sizeMiB: number, files: string, label: string) {
  await Deno.remove(out).catch(() => {});
  await sh(["mkfs.vfat", "-C", "-n", label, out, String(sizeMiB * 1024)]);
  const entries = [...Deno.readDirSync(files)].map((e) => `${files}/${e.name}`);
  if (entries.length) await sh(["mcopy", "-s", "-i", out, ...entries, "::/"]);
}

export interface DiskParts {
  bootFat: string;
  slotA: string;
  data: string;
  /** GRUB: MBR boot code and core.img. */
  grub?: { bootImg: string; coreImg: string };
}

export async function buildDisk(out: string, parts: DiskParts): Promise<void> {
  await Deno.remove(out).catch(() => {});
  await sh(["truncate", "-s", `${DISK_MIB}M`, out]);
  const table = [
    "label: dos",
    `start=${LAYOUT.boot[0]}MiB, size=${LAYOUT.boot[1]}MiB, type=c, bootable`,
    `start=${LAYOUT.a[0]}MiB, size=${LAYOUT.a[1]}MiB, type=83`,
    `start=${LAYOUT.b[0]}MiB, size=${LAYOUT.b[1]}MiB, type=83`,
    `start=${LAYOUT.data[0]}MiB, size=${LAYOUT.data[1]}MiB, type=83`,
  ].join("\n");
  await sh(["sfdisk", "-q", out], { stdin: table + "\n" });
  await place(out, parts.bootFat, LAYOUT.boot[0]);
  await place(out, parts.slotA, LAYOUT.a[0]);
  await place(out, parts.data, LAYOUT.data[0]);
  if (parts.grub) {
    // boot.img's first 440 bytes (the partition table stays), core.img from sector 1
    await sh([
      "dd",
      `if=${parts.grub.bootImg}`,
      `of=${out}`,
      "bs=440",
      "count=1",
      "conv=notrunc",
      "status=none",
    ]);
    await sh([
      "dd",
      `if=${parts.grub.coreImg}`,
      `of=${out}`,
      "bs=512",
      "seek=1",
      "conv=notrunc",
      "status=none",
    ]);
  }
}

/** A USB stick: one FAT partition holding FILES (a directory). */
export async function buildUsbStick(out: string, files: string, work: string): Promise<void> {
  let bytes = 0;
  for (const e of Deno.readDirSync(files)) bytes += (await Deno.stat(`${files}/${e.name}`)).size;
  const partMiB = Math.max(64, Math.ceil(bytes / 2 ** 20 * 1.1) + 16);
  const part = `${work}/usb-part.fat`;
  await fatImage(part, partMiB, files, "OTA-USB");
  await Deno.remove(out).catch(() => {});
  await sh(["truncate", "-s", `${partMiB + 1}M`, out]);
  await sh(["sfdisk", "-q", out], { stdin: "label: dos\nstart=1MiB, type=c\n" });
  await place(out, part, 1);
  await Deno.remove(part);
}
