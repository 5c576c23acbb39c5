/**
 * What the scenarios share: running one scenario on a U-Boot and a GRUB board at once
 * (QEMU under TCG uses one core each), USB sticks holding artifacts, step-script snippets
 * and expectations that explain themselves with the board's console.
 */
import { Board, type Boot } from "./board.ts";
import { missingHostTools } from "./host.ts";
import type { Bootloader } from "./rootfs.ts";

export const BOOTLOADERS: Bootloader[] = (Deno.env.get("OTA_HW_BOARDS") ?? "uboot,grub")
  .split(",").filter((b): b is Bootloader => b === "uboot" || b === "grub");

/** Why the emulated boards cannot run here (tools missing), or undefined. */
export const unavailable = await missingHostTools();

/** The full power-cut matrix instead of its fast subset. */
export const FULL = Deno.env.get("OTA_HW_FULL") === "1";

export class ScenarioError extends Error {}

/** Runs FN on a fresh board of each bootloader, concurrently; reports every failure. */
export async function onEachBoard(fn: (board: Board) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(BOOTLOADERS.map(async (kind) => {
    await using board = await Board.create(kind);
    try {
      await fn(board);
      const total = board.boots.reduce((sum, b) => sum + b.ms, 0);
      const installs = board.boots.flatMap((b) =>
        Object.entries(b.runs).filter(([id]) => id === "install").map(([, r]) => r.s)
      );
      console.log(
        `[${kind}] ${board.boots.length} power-ons in ${Math.round(total / 1000)} s` +
          ` (mean ${Math.round(total / board.boots.length / 1000)} s)` +
          (installs.length ? `; ota install took ${installs.join(", ")} s on the board` : ""),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ScenarioError(
        `[${kind}] ${message}\n--- ${kind} console, last lines (${board.log}):\n${await board
          .consoleTail(40)}`,
      );
    }
  }));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failures.length) {
    throw new Error(failures.map((f) => f.reason?.message ?? f.reason).join("\n\n"));
  }
}

/** A directory for a USB stick holding FILES (name -> host path), hard-linked, not copied. */
export async function usbFiles(board: Board, files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: board.dir, prefix: "usb-" });
  for (const [name, path] of Object.entries(files)) await Deno.link(path, `${dir}/${name}`);
  return dir;
}

/** Step snippets (sh for the board). */
export const step = {
  writeSlot: (part: number, file: string) =>
    `hw_mount_usb\nhw_run dd dd if=/mnt/usb/${file} of=/dev/vda${part} bs=4M conv=fsync`,
  /** Points the bootloader at PART on trial, as an update client does after writing it. */
  trial: (part: number) =>
    `hw_run setenv hw_setenv mender_boot_part=${part} ${
      "mender_boot_part_hex=" + part.toString(16)
    } upgrade_available=1 bootcount=0`,
  commit: "hw_run setenv hw_setenv upgrade_available=0",
  env: "hw_env",
  reboot: "hw_reboot",
};

export function fail(message: string): never {
  throw new ScenarioError(message);
}

export function describe(boot: Boot): string {
  const runs = Object.entries(boot.runs).map(([id, r]) =>
    `  ${id}: rc=${r.rc} (${r.s}s) ${r.out.trim().split("\n").slice(-2).join(" | ")} ${
      r.err.trim().split("\n").slice(-2).join(" | ")
    }`
  ).join("\n");
  return `power-on ${boot.end} after ${Math.round(boot.ms / 1000)}s: part=${boot.part} ` +
    `release=${boot.release} env=${JSON.stringify(boot.env ?? {})} panicked=${boot.panicked}\n` +
    `  bootloader: ${boot.loader.map((l) => l.text).join(" / ")}\n${runs}`;
}

export interface Expected {
  part?: number;
  release?: string;
  end?: Boot["end"];
  /** Bootloader variables that must have these values (effective copy for GRUB). */
  env?: Record<string, string>;
  /** Exit codes of hw_run/hw_ota commands by id. */
  rc?: Record<string, number>;
  /** Text that must appear in a command's stdout+stderr, by id. */
  says?: Record<string, RegExp>;
  /** No userspace came up (the kernel did not boot or panicked). */
  noUserspace?: boolean;
}

export function expect(boot: Boot, what: string, e: Expected): void {
  const problems: string[] = [];
  if (e.noUserspace && boot.part !== undefined) {
    problems.push(`userspace came up on part ${boot.part}`);
  }
  if (e.part !== undefined && boot.part !== e.part) {
    problems.push(`running part ${boot.part}, expected ${e.part}`);
  }
  if (e.release !== undefined && boot.release !== e.release) {
    problems.push(`running ${boot.release}, expected ${e.release}`);
  }
  if (e.end !== undefined && boot.end !== e.end) {
    problems.push(`ended by ${boot.end}, expected ${e.end}`);
  }
  for (const [k, v] of Object.entries(e.env ?? {})) {
    if (boot.env?.[k] !== v) problems.push(`${k}=${boot.env?.[k]}, expected ${v}`);
  }
  for (const [id, rc] of Object.entries(e.rc ?? {})) {
    if (boot.runs[id]?.rc !== rc) {
      problems.push(`${id} exited ${boot.runs[id]?.rc}, expected ${rc}`);
    }
  }
  for (const [id, re] of Object.entries(e.says ?? {})) {
    const text = `${boot.runs[id]?.out ?? ""}${boot.runs[id]?.err ?? ""}`;
    if (!re.test(text)) problems.push(`${id} did not say ${re}: ${text.trim().slice(-300)}`);
  }
  if (problems.length) fail(`${what}: ${problems.join("; ")}\n${describe(boot)}`);
}

/** The bootloader fell back on its own (U-Boot's altbootcmd, GRUB's rollback branch). */
export function expectBootloaderFallback(boot: Boot, what: string): void {
  const fellBack = boot.loader.some((l) => /^(uboot altbootcmd|grub rollback)/.test(l.text));
  if (!fellBack) fail(`${what}: the bootloader did not fall back\n${describe(boot)}`);
}
