/**
 * The simulated board's bootloader environment: U-Boot's in a file (mkenvimage, read and
 * written by the real fw_printenv/fw_setenv), or GRUB's as grub-mender-grubenv keeps it
 * (two copies with lock files, edited by the real grub-editenv).
 */
import { sh } from "./exec.ts";

export type Bootloader = "uboot" | "grub";

const ENV_SIZE = 0x4000;
const INITIAL = {
  mender_boot_part: "2",
  mender_boot_part_hex: "2",
  upgrade_available: "0",
  bootcount: "0",
};

interface Board {
  dir: string;
  bootloader: Bootloader;
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text.trim().split("\n").filter((l) => l.includes("=")).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

const grubCopy = (board: Board, n: number) => `${board.dir}/grubenv/mender_grubenv${n}`;

/** Creates the environment at first boot; returns the mender.conf keys that point ota at it. */
export async function createBootEnv(
  board: Board,
  redundant = false,
): Promise<Record<string, string>> {
  if (board.bootloader === "grub") {
    for (const n of [1, 2]) {
      const copy = grubCopy(board, n);
      await Deno.mkdir(copy, { recursive: true });
      await sh(["grub-editenv", `${copy}/env`, "create"]);
      await sh([
        "grub-editenv",
        `${copy}/env`,
        "set",
        ...Object.entries(INITIAL).map(([k, v]) => `${k}=${v}`),
      ]);
      await sh(["grub-editenv", `${copy}/lock`, "create"]);
      await sh(["grub-editenv", `${copy}/lock`, "set", "editing=0"]);
    }
    return { Bootloader: "grub", GrubEnvDir: `${board.dir}/grubenv` };
  }
  const text = Object.entries({ ...INITIAL, bootlimit: "1" }).map(([k, v]) => `${k}=${v}\n`).join(
    "",
  );
  await Deno.writeTextFile(`${board.dir}/uboot.env.txt`, text);
  const size = String(ENV_SIZE);
  await sh([
    "mkenvimage",
    ...(redundant ? ["-r"] : []),
    "-s",
    size,
    "-o",
    `${board.dir}/uboot.env`,
    `${board.dir}/uboot.env.txt`,
  ]);
  let config = `${board.dir}/uboot.env 0x0 0x${ENV_SIZE.toString(16)}\n`;
  if (redundant) {
    await Deno.copyFile(`${board.dir}/uboot.env`, `${board.dir}/uboot2.env`);
    config += `${board.dir}/uboot2.env 0x0 0x${ENV_SIZE.toString(16)}\n`;
  }
  await Deno.writeTextFile(`${board.dir}/fw_env.config`, config);
  return { Bootloader: "uboot", FwEnvConfig: `${board.dir}/fw_env.config` };
}

/** The environment as the bootloader sees it (for GRUB: the first copy not being edited). */
export async function envDump(board: Board): Promise<Record<string, string>> {
  if (board.bootloader === "grub") {
    for (const n of [1, 2]) {
      const lock = parseEnv(await sh(["grub-editenv", `${grubCopy(board, n)}/lock`, "list"]));
      if (lock.editing !== "1") {
        return parseEnv(await sh(["grub-editenv", `${grubCopy(board, n)}/env`, "list"]));
      }
    }
    throw new Error("both GRUB environment copies are marked as being edited");
  }
  return parseEnv(await sh(["fw_printenv", "-c", `${board.dir}/fw_env.config`]));
}

/** Sets variables as the bootloader itself saves them. */
export async function envSet(board: Board, vars: Record<string, string>): Promise<void> {
  if (board.bootloader === "grub") {
    const pairs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
    for (const n of [1, 2]) {
      await sh(["grub-editenv", `${grubCopy(board, n)}/env`, "set", ...pairs]);
    }
    return;
  }
  const script = Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join("");
  await sh(["fw_setenv", "-c", `${board.dir}/fw_env.config`, "-s", "-"], { stdin: script });
}
