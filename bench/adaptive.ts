/**
 * Adaptive updates on real root filesystems: the emulated board's root filesystem
 * (test/hw/harness: busybox, glibc and tools, the ota binary, kernel and initramfs from
 * Debian packages) built twice, with two Debian kernels (bookworm and bookworm-security by
 * default), as ext4 with 4 KiB blocks. The board runs the old one; the new one is installed
 * from nginx on loopback as an adaptive artifact, adaptively and as a full download.
 *
 *   deno task bench adaptive [--old linux-image-6.1.0-50-amd64] [--new linux-image-6.1.0-57-amd64]
 *                            [--compressions gzip,none] [--size-mib 192]
 *
 * Reported: wall time of the adaptive install against the full one (the same artifact with
 * AdaptiveUpdates off), the bytes nginx sent for each, and as the physical reference the size
 * of `zstd --patch-from=OLD NEW` (default level), the delta a perfect differ would send.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import {
  type Device,
  envSet,
  makeDevice,
  releaseLoops,
  slotImage,
} from "../examples/device/device.ts";
import { guestKernel } from "../test/hw/harness/kernel.ts";
import { buildInitramfs, buildRootfsTree } from "../test/hw/harness/rootfs.ts";
import { type Nginx, startNginx } from "../test/helpers/nginx.ts";
import {
  type Bench,
  type BenchOptions,
  compare,
  flag,
  mustRun,
  OTA,
  type Row,
  valueRow,
} from "./lib.ts";

const MB = 1e6;

/** The board's root filesystem with kernel package PKG, as a SIZE MiB ext4 image. */
async function release(work: string, name: string, pkg: string, sizeMiB: number) {
  const image = `${work}/${name}.ext4`;
  if (existsSync(image)) return image;
  const kernel = await guestKernel(pkg);
  const initramfs = `${work}/${name}-initrd.img`;
  await buildInitramfs(kernel, "initramfs_init.sh", `${work}/tmp-${name}`, initramfs);
  const tree = `${work}/tree-${name}`;
  await buildRootfsTree({
    bootloader: "uboot",
    name,
    kernel,
    initramfs,
    ota: OTA,
    deviceType: "bench-board",
  }, tree);
  // 4 KiB blocks: files then sit on 4 KiB boundaries wherever they moved to
  const args = ["-q", "-F", "-b", "4096", "-L", "rootfs", "-E", "root_owner=0:0", "-d", tree];
  mustRun(["mkfs.ext4", ...args, `${image}.tmp`, `${sizeMiB}M`]);
  Deno.renameSync(`${image}.tmp`, image);
  rmSync(tree, { recursive: true, force: true });
  rmSync(`${work}/tmp-${name}`, { recursive: true, force: true });
  return image;
}

function adaptiveArtifact(dir: string, image: string, compression: string): string {
  const out = `${dir}/new-${compression}.mender`;
  if (existsSync(out)) return out;
  mustRun([
    OTA,
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "release-new",
    "-t",
    "bench-board",
    "-f",
    image,
    "-o",
    out,
    "--adaptive",
    "--compression",
    compression,
    "--no-progress",
  ]);
  return out;
}

/** zstd --patch-from=OLD NEW, at zstd's default level: bytes. */
function patchSize(work: string, old: string, next: string): number {
  const out = `${work}/patch.zst`;
  if (!existsSync(out)) mustRun(["zstd", "-q", "-f", `--patch-from=${old}`, next, "-o", out]);
  return statSync(out).size;
}

/** Body bytes nginx sent in the runs noted so far: each note counts the lines since the last. */
function sentPerRun(log: () => Promise<string>) {
  let seen = 0;
  return async (into: number[]) => {
    const lines = (await log()).split("\n").filter((l) => l.startsWith("GET "));
    into.push(lines.slice(seen).reduce((n, l) => n + Number(l.split(" ").at(-1)), 0));
    seen = lines.length;
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

function bytesRow(name: string, bytes: number, reference: number, note: string): Row {
  return valueRow(name, "MB", [bytes / MB], [reference / MB], { ota: null, reference: null }, note);
}

async function run({ runs, cold, work, args }: BenchOptions): Promise<Row[]> {
  const sizeMiB = Number(flag(args, "size-mib", "192"));
  const old = await release(work, "old", flag(args, "old", "linux-image-6.1.0-50-amd64"), sizeMiB);
  const next = await release(work, "new", flag(args, "new", "linux-image-6.1.0-57-amd64"), sizeMiB);
  const patch = patchSize(work, old, next);
  const device = await makeDevice(`${work}/board`, {
    partitionMiB: sizeMiB + 16,
    deviceType: "bench-board",
    loopDevices: true,
    config: {
      AdaptiveReadPartA: `${work}/board/part_a.img`,
      AdaptiveReadPartB: `${work}/board/part_b.img`,
    },
  });
  mustRun([
    "dd",
    `if=${old}`,
    `of=${slotImage(device.dir, 2)}`,
    "bs=4M",
    "conv=notrunc",
    "status=none",
  ]);
  const full = `${device.dir}/etc/mender/full.conf`;
  const config = JSON.parse(readFileSync(device.config, "utf8"));
  writeFileSync(full, JSON.stringify({ ...config, AdaptiveUpdates: false }));
  const served = `${work}/served`;
  Deno.mkdirSync(served, { recursive: true });
  await using nginx = await startNginx(served);
  const board: Board = { device, full, nginx, served, sizeMiB, runs, cold };
  const rows: Row[] = [];
  try {
    for (const compression of flag(args, "compressions", "gzip,none").split(",")) {
      rows.push(...await measure(board, adaptiveArtifact(served, next, compression), patch));
    }
  } finally {
    await releaseLoops(device);
  }
  return rows;
}

interface Board {
  device: Device;
  /** The configuration with AdaptiveUpdates off. */
  full: string;
  nginx: Nginx;
  served: string;
  sizeMiB: number;
  runs: number;
  cold: boolean;
}

/** The old system running, nothing pending, the idle slot holding zeros, no client state. */
async function reset(board: Board): Promise<void> {
  const { device } = board;
  rmSync(`${device.dir}/ota-data`, { recursive: true, force: true });
  await envSet(device, {
    mender_boot_part: "2",
    mender_boot_part_hex: "2",
    upgrade_available: "0",
    bootcount: "0",
  });
  mustRun([
    "dd",
    "if=/dev/zero",
    `of=${slotImage(device.dir, 3)}`,
    "bs=4M",
    `count=${Math.ceil(board.sizeMiB / 4)}`,
    "conv=notrunc,fsync", // written back before the run, which it would slow down else
    "status=none",
  ]);
}

/** Times both installs of ARTIFACT, run by run, and counts the bytes nginx sent for each. */
async function measure(board: Board, artifact: string, patch: number): Promise<Row[]> {
  const name = artifact.split("/").pop()!;
  const compression = /new-(\w+)\.mender$/.exec(name)?.[1];
  const size = statSync(artifact).size;
  const install = (config: string) => [
    OTA,
    "install",
    "--config",
    config,
    "--data",
    `${board.device.dir}/ota-data`,
    "--progress=none",
    board.nginx.url(`/${name}`),
  ];
  const note = sentPerRun(board.nginx.log);
  await note([]); // what earlier measurements fetched
  const adaptive: number[] = [];
  const whole: number[] = [];
  let turn = 0;
  const before = async () => {
    // the run that just ended is counted (adaptive and full take turns), then the reset
    if (turn > 0) await note(turn % 2 === 1 ? adaptive : whole);
    turn++;
    await reset(board);
  };
  const time = await compare(
    `${compression}: install, adaptive vs full download`,
    install(board.device.config),
    install(board.full),
    { runs: board.runs, cold: board.cold, before },
  );
  await before();
  const fetched = median(adaptive);
  const text = `${(100 * fetched / size).toFixed(1)} % of the ${(size / MB).toFixed(1)} MB ` +
    `artifact; a full download fetched ${(median(whole) / MB).toFixed(1)} MB`;
  return [
    time,
    bytesRow(`${compression}: bytes fetched vs zstd --patch-from`, fetched, patch, text),
  ];
}

export const bench: Bench = {
  name: "adaptive",
  description: "adaptive rootfs-image install vs a full download, bytes against zstd --patch-from",
  run,
};
