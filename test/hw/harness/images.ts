/**
 * Builds (once per content) everything a board needs: per bootloader, the release root
 * filesystems, the pristine disk, and Mender Artifacts of the releases made by the ota
 * binary under test. Cached under CACHE_DIR/images/<hash of the inputs>.
 */
import { grubBootFiles, grubCore, ubootBootFiles } from "./bootfiles.ts";
import { cacheEntry, isBuilt } from "./cache.ts";
import { buildDisk, fatImage, SLOT_MIB } from "./disk.ts";
import { CACHE_DIR, exists, HW_DIR, ROOT, sh } from "./host.ts";
import { guestKernel } from "./kernel.ts";
import {
  ARTIFACT_STATES,
  type Bootloader,
  buildInitramfs,
  buildRootfsTree,
  makeExt4,
  stateScripts,
  SYSTEMD_UNIT,
} from "./rootfs.ts";

export interface Images {
  dir: string;
  bootloader: Bootloader;
  deviceType: string;
  /** The disk as it leaves the factory: release-1 in slot A, slot B empty. */
  disk: string;
  /** Root filesystem images by release name (release-1, release-2, release-3, panic, broken-kernel). */
  rootfs: Record<string, string>;
  /** rootfs-image artifacts by release name, written by `ota artifact write`. */
  artifacts: Record<string, string>;
}

/** The harness files that shape the images (the others only run boards). */
const IMAGE_SOURCES = ["debs.ts", "kernel.ts", "rootfs.ts", "bootfiles.ts", "disk.ts", "images.ts"];

export const RELEASES = ["release-1", "release-2", "release-3", "panic", "broken-kernel"];

async function hashInputs(ota: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(ota)));
  const parts = [Array.from(hash).join(",")];
  const walk = async (dir: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else parts.push(path.slice(HW_DIR.length), await Deno.readTextFile(path));
    }
  };
  for (const sub of ["guest", "boot"]) await walk(`${HW_DIR}/${sub}`);
  parts.push(SYSTEMD_UNIT, await Deno.readTextFile(SYSTEMD_UNIT));
  for (const file of IMAGE_SOURCES) {
    parts.push(file, await Deno.readTextFile(`${HW_DIR}/harness/${file}`));
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\0")));
  return Array.from(new Uint8Array(digest).slice(0, 8)).map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

async function build(bootloader: Bootloader, ota: string, dir: string): Promise<void> {
  const work = `${dir}/work`;
  await Deno.mkdir(work, { recursive: true });
  const deviceType = `qemu-x86-${bootloader}`;
  const kernel = await guestKernel();
  const initramfs = `${dir}/initrd.img`;
  const panicInitramfs = `${work}/initrd-panic.img`;
  await buildInitramfs(kernel, "initramfs_init.sh", work, initramfs);
  await buildInitramfs(kernel, "panic_init.sh", work, panicInitramfs);
  // every artifact carries the cut-point state scripts: no-ops unless a step arms one
  const scripts = await stateScripts(`${work}/scripts`, ARTIFACT_STATES);
  for (const name of RELEASES) {
    const tree = `${work}/tree`;
    await buildRootfsTree({
      bootloader,
      name,
      kernel,
      initramfs: name === "panic" ? panicInitramfs : initramfs,
      ota,
      deviceType,
      brokenKernel: name === "broken-kernel",
      withoutOta: name === "panic" || name === "broken-kernel",
    }, tree);
    await makeExt4(tree, `${dir}/${name}.ext4`, name);
    await Deno.remove(tree, { recursive: true });
    await sh([
      ota,
      "artifact",
      "write",
      "rootfs-image",
      "-n",
      name,
      "-t",
      deviceType,
      "-f",
      `${dir}/${name}.ext4`,
      "-o",
      `${dir}/${name}.mender`,
      "--compression",
      "zstd",
      ...scripts.flatMap((s) => ["-s", s]),
    ]);
  }
  // an image one slot plus 16 MiB long: zeros, so the artifact stays small
  await sh(["truncate", "-s", `${SLOT_MIB + 16}M`, `${work}/too-large.img`]);
  await sh([
    ota,
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "too-large",
    "-t",
    deviceType,
    "-f",
    `${work}/too-large.img`,
    "-o",
    `${dir}/too-large.mender`,
  ]);
  const bootFiles = `${work}/bootfs`;
  await Deno.mkdir(bootFiles, { recursive: true });
  if (bootloader === "uboot") await ubootBootFiles(bootFiles, work);
  else await grubBootFiles(bootFiles);
  await fatImage(`${work}/boot.fat`, 32, bootFiles, "BOOT");
  const dataTree = `${work}/data`;
  await Deno.mkdir(`${dataTree}/mender`, { recursive: true });
  await Deno.writeTextFile(`${dataTree}/mender/device_type`, `device_type=${deviceType}\n`);
  await makeExt4(dataTree, `${work}/data.ext4`, "data", 128);
  await buildDisk(`${dir}/disk.img`, {
    bootFat: `${work}/boot.fat`,
    slotA: `${dir}/release-1.ext4`,
    data: `${work}/data.ext4`,
    grub: bootloader === "grub" ? await grubCore(work) : undefined,
  });
  await Deno.remove(work, { recursive: true });
}

/** The images for one bootloader, built if the cache has none for these inputs. */
export async function images(bootloader: Bootloader, ota = `${ROOT}/dist/ota`): Promise<Images> {
  if (!await exists(ota)) throw new Error(`${ota} is missing: run npx deno task build:x64`);
  const key = await hashInputs(ota);
  const base = `${CACHE_DIR}/images`;
  const dir = `${base}/${bootloader}-${key}`;
  if (!await isBuilt(dir)) {
    await Deno.mkdir(base, { recursive: true });
    // other inputs' images are stale: keep the cache bounded, but leave what a concurrent
    // run may still be building or using (touched within the hour), and this entry's own
    // lock and temporary directory
    for (const e of Deno.readDirSync(base)) {
      if (!e.name.startsWith(`${bootloader}-`) || e.name.startsWith(`${bootloader}-${key}`)) {
        continue;
      }
      const age = Date.now() - ((await Deno.stat(`${base}/${e.name}`)).mtime?.getTime() ?? 0);
      if (age > 3600_000) {
        await Deno.remove(`${base}/${e.name}`, { recursive: true }).catch(() => {});
      }
    }
    await cacheEntry(dir, (tmp) => build(bootloader, ota, tmp));
  } else {
    await Deno.utime(dir, new Date(), new Date()); // in use: not stale for other runs
  }
  const named = (ext: string) => Object.fromEntries(RELEASES.map((n) => [n, `${dir}/${n}.${ext}`]));
  return {
    dir,
    bootloader,
    deviceType: `qemu-x86-${bootloader}`,
    disk: `${dir}/disk.img`,
    rootfs: named("ext4"),
    artifacts: { ...named("mender"), "too-large": `${dir}/too-large.mender` },
  };
}
