/**
 * Where the GRUB environment is, found as grub-mender-grubenv's tools find it: the last
 * `ENV_DIR = ...` line of /etc/mender_grubenv.config, else the first of
 * /boot/efi/grub-mender-grubenv and /boot/grub/grub-mender-grubenv that is a directory,
 * else the legacy /boot/efi/EFI/BOOT and /boot/grub if they hold mender_grubenv1. And
 * whether those tools are installed (Mender 3.4 drives the environment through them first).
 * Synchronous, so a backend is chosen without a wait; `root` prefixes the device's fixed
 * paths (a test's device tree).
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import process from "node:process";

export const GRUBENV_CONFIG = "/etc/mender_grubenv.config";
export const GRUBENV_PRINT = "grub-mender-grubenv-print";
export const GRUBENV_SET = "grub-mender-grubenv-set";

export interface GrubLookup {
  /** Prefix for /etc, /boot and /var/lock (default none). */
  root?: string;
  /** The config file (default GRUBENV_CONFIG under root). */
  configFile?: string;
  /** Where the tools are looked for (default $PATH). */
  searchPath?: string;
}

const isDir = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** ENV_DIR as the tool reads it: the last matching line, its value kept verbatim. */
export function envDirFromConfig(text: string): string | undefined {
  const lines = text.split("\n").filter((line) => /^ENV_DIR *= */.test(line));
  const value = lines.at(-1)?.replace(/^ENV_DIR *= */, "");
  return value ? value : undefined;
}

export interface GrubEnvDir {
  dir: string;
  /** How it was found, for messages. */
  from: string;
}

export function findGrubEnvDir(lookup: GrubLookup = {}): GrubEnvDir | undefined {
  const root = lookup.root ?? "";
  const configFile = lookup.configFile ?? `${root}${GRUBENV_CONFIG}`;
  let text: string | undefined;
  try {
    text = readFileSync(configFile, "utf8");
  } catch {
    text = undefined; // the tool reads it only if readable
  }
  const configured = text === undefined ? undefined : envDirFromConfig(text);
  if (configured) return { dir: `${root}${configured}`, from: `ENV_DIR in ${configFile}` };
  const current = ["/boot/efi/grub-mender-grubenv", "/boot/grub/grub-mender-grubenv"]
    .map((dir) => `${root}${dir}`).find(isDir);
  if (current) return { dir: current, from: "the default location" };
  const legacy = ["/boot/efi/EFI/BOOT", "/boot/grub"]
    .map((dir) => `${root}${dir}`).find((dir) => isDir(`${dir}/mender_grubenv1`));
  return legacy ? { dir: legacy, from: "a legacy location" } : undefined;
}

function onPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(":").filter(Boolean)) {
    const path = `${dir}/${name}`;
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** grub-mender-grubenv-print and -set, if both are installed. */
export function findGrubTools(lookup: GrubLookup = {}): { print: string; set: string } | undefined {
  const searchPath = lookup.searchPath ?? process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  const print = onPath(GRUBENV_PRINT, searchPath), set = onPath(GRUBENV_SET, searchPath);
  return print && set ? { print, set } : undefined;
}
