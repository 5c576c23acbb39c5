/**
 * What goes on the boot partition: for U-Boot the boot script (compiled with mkimage) and
 * its saveenv helper; for GRUB the grub.cfg and grub-mender-grubenv's two environment
 * copies with their lock files, written by the real grub-editenv.
 */
import { HW_DIR, sh } from "./host.ts";

/** U-Boot has no setexpr in this build: "+1" is a chain of comparisons. */
function bootcountIncrement(): string {
  const lines = [];
  for (let n = 0; n < 20; n++) {
    lines.push(
      `  ${n ? "elif" : "if"} test "\${bootcount}" = ${n}; then setenv bootcount ${n + 1}`,
    );
  }
  lines.push("  else setenv bootcount 20", "  fi");
  return lines.join("\n");
}

function flagIncrement(from: string, to: string): string {
  const lines = [];
  for (let n = 0; n < 256; n++) {
    const hex = (v: number) => `0x${v.toString(16).padStart(2, "0")}`;
    lines.push(`  if itest.b *${from} == ${hex(n)}; then mw.b ${to} ${hex((n + 1) & 0xff)}; fi`);
  }
  return lines.join("\n");
}

async function mkimageScript(source: string, out: string, work: string): Promise<void> {
  const cmd = `${work}/${out.split("/").pop()}.cmd`;
  await Deno.writeTextFile(cmd, source);
  await sh(["mkimage", "-A", "x86", "-O", "linux", "-T", "script", "-C", "none", "-d", cmd, out]);
}

/** Writes boot.scr.uimg and hw_saveenv.scr into DIR. */
export async function ubootBootFiles(dir: string, work: string): Promise<void> {
  const boot = (await Deno.readTextFile(`${HW_DIR}/boot/uboot_boot.cmd`))
    .replace("#@BOOTCOUNT_INCREMENT", bootcountIncrement());
  const save = (await Deno.readTextFile(`${HW_DIR}/boot/uboot_saveenv.cmd`))
    .replace(/^#@FLAG_INCREMENT (\S+) (\S+)$/gm, (_, from, to) => flagIncrement(from, to));
  await mkimageScript(boot, `${dir}/boot.scr.uimg`, work);
  await mkimageScript(save, `${dir}/hw_saveenv.scr`, work);
}

/** Writes grub.cfg and grub-mender-grubenv/mender_grubenv{1,2}/{env,lock} into DIR. */
export async function grubBootFiles(dir: string): Promise<void> {
  await Deno.copyFile(`${HW_DIR}/boot/grub.cfg`, `${dir}/grub.cfg`);
  for (const n of [1, 2]) {
    const copy = `${dir}/grub-mender-grubenv/mender_grubenv${n}`;
    await Deno.mkdir(copy, { recursive: true });
    await sh(["grub-editenv", `${copy}/env`, "create"]);
    await sh([
      "grub-editenv",
      `${copy}/env`,
      "set",
      "bootcount=0",
      "mender_boot_part=2",
      "upgrade_available=0",
    ]);
    await sh(["grub-editenv", `${copy}/lock`, "create"]);
    await sh(["grub-editenv", `${copy}/lock`, "set", "editing=0"]);
  }
}

/** GRUB for BIOS: core.img with everything built in, and the MBR boot code. */
export async function grubCore(work: string): Promise<{ bootImg: string; coreImg: string }> {
  const coreImg = `${work}/core.img`;
  await sh([
    "grub-mkimage",
    "-O",
    "i386-pc",
    "-o",
    coreImg,
    "-p",
    "(hd0,msdos1)/",
    "biosdisk",
    "part_msdos",
    "fat",
    "ext2",
    "normal",
    "configfile",
    "echo",
    "test",
    "loadenv",
    "linux",
    "serial",
    "terminal",
    "sleep",
    "reboot",
    "halt",
    "regexp",
    "cat",
    "boot",
  ]);
  return { bootImg: "/usr/lib/grub/i386-pc/boot.img", coreImg };
}
