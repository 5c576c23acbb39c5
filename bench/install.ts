/**
 * Installs: the same rootfs-image artifact installed by ota (dist/ota) and by the real
 * Mender client 3.4 on the same simulated board (the idle slot a loop device), and both
 * against the physical floor: `cat image > partition` plus `sha256sum image`.
 *
 *   deno task bench install [--sizes 256,1024] [--compressions none,gzip,xz,zstd]
 *
 * The image alternates 1 MiB of random bytes and 1 MiB of zeros. Before every run the idle
 * slot is overwritten with other bytes (Mender's client skips 1 MiB frames that are already
 * equal, which an older system on the slot would not give it) and the board is reset to
 * "slot A running, nothing pending". Mender 3.4 reads no zstd: zstd rows are ota's alone.
 */
import { rmSync } from "node:fs";
import {
  createMenderDevice,
  ensureLoops,
  envSet,
  menderCommand,
  type MenderDevice,
} from "../test/helpers/mender_client.ts";
import {
  type Bench,
  type BenchOptions,
  compare,
  flag,
  mustRun,
  otaArtifact,
  otaInstall,
  patternFile,
  type Row,
} from "./lib.ts";

async function board(work: string, mib: number): Promise<MenderDevice> {
  const dir = `${work}/board-${mib}`;
  rmSync(dir, { recursive: true, force: true });
  return await createMenderDevice(dir, {
    rootfs: { sizeMiB: mib + 16 },
    deviceType: "bench-board",
  });
}

/** Slot A running, nothing pending, the idle slot holding other bytes, no client state. */
async function reset(device: MenderDevice, other: string): Promise<void> {
  await envSet(device, {
    mender_boot_part: "2",
    mender_boot_part_hex: "2",
    upgrade_available: "0",
    bootcount: "0",
  });
  await Deno.writeTextFile(`${device.dir}/booted`, "2\n");
  mustRun([
    "dd",
    `if=${other}`,
    `of=${device.dir}/part_b.img`,
    "bs=4M",
    "conv=notrunc,fsync",
    "status=none",
  ]);
  for (const store of ["data/mender-store", "data/mender-store-lock", "ota-data"]) {
    rmSync(`${device.dir}/${store}`, { recursive: true, force: true });
  }
  await ensureLoops(device);
}

async function run({ runs, cold, work, args }: BenchOptions): Promise<Row[]> {
  const sizes = flag(args, "sizes", "256,1024").split(",").map(Number);
  const compressions = flag(args, "compressions", "none,gzip,xz,zstd").split(",");
  const rows: Row[] = [];
  for (const mib of sizes) {
    const image = patternFile(`${work}/rootfs-${mib}.img`, mib, 2);
    const other = patternFile(`${work}/older-${mib + 16}.img`, mib + 16, null);
    const device = await board(work, mib);
    const before = () => reset(device, other);
    const slot = `${device.dir}/dev/mmcblk0p3`;
    rows.push(
      await compare(
        `${mib} MiB floor: cat + sha256sum`,
        ["sh", "-c", `cat ${image} > $(readlink -f ${slot}) && sync && sha256sum ${image}`],
        null,
        { runs, cold, before },
      ),
    );
    for (const compression of compressions) {
      const artifact = `${work}/install-${mib}-${compression}.mender`;
      otaArtifact(artifact, { name: `bench-${mib}`, file: image, compression });
      const ota = otaInstall(device.dir, artifact);
      const mender = compression === "zstd"
        ? null
        : menderCommand(device, ["install", artifact], { logLevel: "error" });
      rows.push(
        await compare(`${mib} MiB ${compression}`, ota, mender?.cmd ?? null, {
          runs,
          cold,
          before,
          env: mender?.env,
          note: compression === "zstd" ? "Mender 3.4 reads no zstd" : undefined,
        }),
      );
    }
    mustRun([
      "sh",
      "-c",
      `losetup -j ${device.dir}/part_a.img -O NAME -n | xargs -r -n1 losetup -d; losetup -j ${device.dir}/part_b.img -O NAME -n | xargs -r -n1 losetup -d`,
    ]);
  }
  return rows;
}

export const bench: Bench = {
  name: "install",
  description: "rootfs-image install, ota vs the real Mender client 3.4, and the physical floor",
  run,
};
