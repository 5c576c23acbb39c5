/**
 * The board's software: an initramfs (busybox, the drivers, an init that mounts the slot)
 * and a root filesystem per release (busybox, glibc and the tools copied from the host
 * with the libraries ldd names, the ota binary, the kernel and the initramfs in /boot),
 * packed as an ext4 image with mkfs.ext4 -d.
 */
import { unpacked } from "./debs.ts";
import { HW_DIR, ROOT, run, sh } from "./host.ts";
import type { Kernel } from "./kernel.ts";

export type Bootloader = "uboot" | "grub";

/** The systemd unit ota ships for its daemon. */
export const SYSTEMD_UNIT = `${ROOT}/examples/systemd/ota.service`;

const HOST_TOOLS = ["/usr/bin/fw_printenv", "/usr/bin/fw_setenv", "/usr/bin/grub-editenv"];
/** Mender state names; each gets the cut-point state script (Enter and Leave). Download_*
 * scripts live on the device (ScriptsDir); Artifact* ones travel in the artifact. */
export const ROOTFS_STATES = ["Download"];
export const ARTIFACT_STATES = [
  "ArtifactInstall",
  "ArtifactReboot",
  "ArtifactCommit",
  "ArtifactRollback",
  "ArtifactRollbackReboot",
  "ArtifactFailure",
];

/** Copies of the cut-point state script under the names for STATES, in DIR. */
export async function stateScripts(dir: string, states: string[]): Promise<string[]> {
  const paths = [];
  await Deno.mkdir(dir, { recursive: true });
  for (const state of states) {
    for (const when of ["Enter", "Leave"]) {
      const path = `${dir}/${state}_${when}_50_hw`;
      await copyFile(`${HW_DIR}/guest/hooks/state_script.sh`, path, 0o755);
      paths.push(path);
    }
  }
  return paths;
}

async function copyFile(from: string, to: string, mode?: number): Promise<void> {
  await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(from, to);
  if (mode !== undefined) await Deno.chmod(to, mode);
}

async function installBusybox(root: string, applets?: string[]): Promise<void> {
  const pkg = await unpacked("busybox-static");
  await copyFile(`${pkg}/bin/busybox`, `${root}/bin/busybox`, 0o755);
  const all = (await sh([`${pkg}/bin/busybox`, "--list"])).split("\n").filter(Boolean);
  for (const applet of applets ?? all) {
    if (applet === "busybox") continue;
    await Deno.symlink("busybox", `${root}/bin/${applet}`).catch(() => {});
  }
}

/** Copies host binaries and every library ldd resolves for them (glibc included). */
async function installHostBinaries(root: string, binaries: [string, string][]): Promise<void> {
  const libs = new Set<string>();
  for (const [from, to] of binaries) {
    await copyFile(from, `${root}${to}`, 0o755);
    const out = await run(["ldd", from]);
    for (const line of out.stdout.split("\n")) {
      const path = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s/.exec(line)?.[1];
      if (path) libs.add(path);
    }
  }
  for (const lib of libs) {
    const real = await Deno.realPath(lib);
    await copyFile(real, `${root}${lib}`, 0o755);
  }
}

async function pack(dir: string, out: string): Promise<void> {
  await sh([
    "sh",
    "-c",
    `cd '${dir}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet > '${out}'`,
  ]);
}

/** An initramfs whose /init is INIT (a file in test/hw/guest). */
export async function buildInitramfs(kernel: Kernel, init: string, work: string, out: string) {
  const dir = `${work}/initramfs-${init.replace(/\W/g, "_")}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const d of ["bin", "dev", "proc", "sys", "newroot", "lib/modules"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  await installBusybox(dir, [
    "sh",
    "mount",
    "umount",
    "insmod",
    "sed",
    "sleep",
    "switch_root",
    "mkdir",
    "cat",
    "echo",
  ]);
  await copyFile(`${HW_DIR}/guest/${init}`, `${dir}/init`, 0o755);
  const names: string[] = [];
  for (const module of kernel.modules) {
    const name = module.split("/").pop()!;
    names.push(name);
    await copyFile(module, `${dir}/lib/modules/${name}`);
  }
  await Deno.writeTextFile(`${dir}/lib/modules/load.order`, names.join("\n") + "\n");
  await pack(dir, out);
  await Deno.remove(dir, { recursive: true });
}

export interface ReleaseSpec {
  bootloader: Bootloader;
  name: string;
  kernel: Kernel;
  initramfs: string;
  /** The ota binary put at /usr/bin/ota. */
  ota: string;
  deviceType: string;
  /** A release whose kernel file is garbage: U-Boot/GRUB refuse to boot it. */
  brokenKernel?: boolean;
  /** Leave the ota binary out (releases that never reach userspace stay small). */
  withoutOta?: boolean;
}

function otaConfig(bootloader: Bootloader, hooks: boolean): string {
  const config: Record<string, unknown> = {
    RootfsPartA: "/dev/vda2",
    RootfsPartB: "/dev/vda3",
    DeviceTypeFile: "/data/mender/device_type",
    Bootloader: bootloader,
    ...(bootloader === "uboot"
      ? { FwEnvConfig: "/etc/fw_env.config" }
      : { GrubEnvDir: "/boot/grub/grub-mender-grubenv" }),
  };
  if (hooks) {
    Object.assign(config, {
      FwPrintenv: "/usr/lib/hw/hooks/fw_printenv",
      FwSetenv: "/usr/lib/hw/hooks/fw_setenv",
      GrubEditenv: "/usr/lib/hw/hooks/grub-editenv",
      ScriptsDir: "/usr/lib/hw/scripts",
    });
  }
  return JSON.stringify(config, null, 2) + "\n";
}

/** Lays out one release's root filesystem in DIR. */
export async function buildRootfsTree(spec: ReleaseSpec, dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (
    const d of [
      "bin",
      "dev",
      "proc",
      "sys",
      "tmp",
      "run",
      "data",
      "root",
      "mnt/usb",
      "boot/grub",
      "etc/mender/scripts",
      "etc/hw",
      "var",
      "usr/bin",
      "usr/lib/hw/hooks",
      "usr/lib/hw/scripts",
    ]
  ) await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  await installBusybox(dir);
  await Deno.symlink("bin", `${dir}/sbin`);
  await Deno.symlink("/run/lock", `${dir}/var/lock`);
  // Mender's layout: the data directory lives on the persistent partition
  await Deno.mkdir(`${dir}/var/lib`, { recursive: true });
  await Deno.symlink("/data/mender", `${dir}/var/lib/mender`);
  await installHostBinaries(dir, [
    ...HOST_TOOLS.map((t) => [t, t] as [string, string]),
    ...(spec.withoutOta ? [] : [[spec.ota, "/usr/bin/ota"] as [string, string]]),
  ]);
  await Deno.remove(`${dir}/sbin/init`).catch(() => {});
  await copyFile(`${HW_DIR}/guest/rootfs_init.sh`, `${dir}/bin/init`, 0o755);
  await copyFile(`${HW_DIR}/guest/lib.sh`, `${dir}/usr/lib/hw/lib.sh`, 0o644);
  await copyFile(`${HW_DIR}/guest/hooks/tool_hook.sh`, `${dir}/usr/lib/hw/hooks/tool_hook`, 0o755);
  for (const tool of ["fw_printenv", "fw_setenv", "grub-editenv"]) {
    await Deno.symlink("tool_hook", `${dir}/usr/lib/hw/hooks/${tool}`);
  }
  await stateScripts(`${dir}/usr/lib/hw/scripts`, ROOTFS_STATES);
  await Deno.writeTextFile(`${dir}/usr/lib/hw/scripts/version`, "3\n");
  await Deno.writeTextFile(`${dir}/etc/mender/scripts/version`, "3\n");
  await Deno.writeTextFile(`${dir}/etc/mender/artifact_info`, `artifact_name=${spec.name}\n`);
  await Deno.writeTextFile(`${dir}/etc/mender/mender.conf`, otaConfig(spec.bootloader, false));
  await Deno.writeTextFile(`${dir}/usr/lib/hw/ota-hooks.conf`, otaConfig(spec.bootloader, true));
  await Deno.writeTextFile(
    `${dir}/etc/fw_env.config`,
    "/dev/vda 0x400000 0x20000\n/dev/vda 0x800000 0x20000\n",
  );
  await Deno.writeTextFile(`${dir}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(`${dir}/etc/group`, "root:x:0:\n");
  await Deno.writeTextFile(
    `${dir}/etc/hw/board.conf`,
    [
      `HW_BOARD=${spec.deviceType}`,
      `HW_BOOTLOADER=${spec.bootloader}`,
      spec.bootloader === "grub" ? "HW_BOOT_PART_MOUNT=/boot/grub" : "HW_BOOT_PART_MOUNT=",
      "HW_GRUBENV_DIR=/boot/grub/grub-mender-grubenv",
      "",
    ].join("\n"),
  );
  const extra: [string, string[]][] = [["usb", spec.kernel.usbModules], [
    "net",
    spec.kernel.netModules,
  ]];
  for (const [sub, modules] of extra) {
    await Deno.mkdir(`${dir}/lib/modules/${sub}`, { recursive: true });
    const names = modules.map((m) => m.split("/").pop()!);
    for (const path of modules) {
      await Deno.copyFile(path, `${dir}/lib/modules/${sub}/${path.split("/").pop()!}`);
    }
    await Deno.writeTextFile(`${dir}/lib/modules/${sub}/load.order`, names.join("\n") + "\n");
  }
  // managed mode as shipped: the systemd unit (the board's init runs its ExecStart the way
  // systemd would, lib.sh hw_service) and an identity script at Mender's default path
  await copyFile(SYSTEMD_UNIT, `${dir}/lib/systemd/system/ota.service`, 0o644);
  await copyFile(
    `${HW_DIR}/guest/mender-device-identity`,
    `${dir}/usr/share/mender/identity/mender-device-identity`,
    0o755,
  );
  await Deno.copyFile(spec.kernel.vmlinuz, `${dir}/boot/vmlinuz`);
  // not a bzImage at all: U-Boot's zboot and GRUB's linux refuse it and return, so the
  // boot script's recovery (reset while upgrade_available=1) is what brings the board back
  if (spec.brokenKernel) {
    await Deno.writeFile(`${dir}/boot/vmlinuz`, new Uint8Array(65536).fill(0x5a));
  }
  await Deno.copyFile(spec.initramfs, `${dir}/boot/initrd.img`);
}

/** An ext4 image of DIR, sized to its content plus slack. */
export async function makeExt4(dir: string, out: string, label: string, sizeMiB?: number) {
  const used = Number((await sh(["du", "-sm", "--apparent-size", dir])).split("\t")[0]);
  const size = sizeMiB ?? Math.ceil((used * 1.05 + 12) / 4) * 4;
  await Deno.remove(out).catch(() => {});
  await sh([
    "mkfs.ext4",
    "-q",
    "-F",
    "-L",
    label,
    "-d",
    dir,
    "-E",
    "root_owner=0:0",
    out,
    `${size}M`,
  ]);
}
