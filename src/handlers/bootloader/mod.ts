/**
 * The bootloader environment behind one interface, so the A/B handler, the simulated
 * device and the emulated boards share it, every read and write behind Mender's save
 * canary (canary.ts). U-Boot through fw_printenv/fw_setenv; GRUB through
 * grub-mender-grubenv's own tools when they are installed (as Mender 3.4 does), else with
 * grub-editenv on that package's two-copy layout, wherever its config or defaults put it.
 */
import { existsSync } from "node:fs";
import type { Config } from "../../device/config.ts";
import { fail } from "../../errors.ts";
import { canaryChecked } from "./canary.ts";
import { type BootEnv, TOOL_TIMEOUT_MS } from "./env.ts";
import { grubEnv, GRUBENV_LOCK, type GrubFileOptions } from "./grub.ts";
import { findGrubEnvDir, findGrubTools, GRUBENV_CONFIG, type GrubLookup } from "./grub_location.ts";
import { scriptEnv } from "./script_env.ts";
import { ubootEnv } from "./uboot.ts";

export type { BootEnv } from "./env.ts";

export interface BootEnvOptions extends GrubLookup, GrubFileOptions {
  timeoutMs?: number;
}

function chooseBootEnv(config: Config, options: BootEnvOptions): BootEnv {
  const timeoutMs = options.timeoutMs ?? TOOL_TIMEOUT_MS;
  const lookup: GrubLookup = { ...options, configFile: config.GrubEnvConfig ?? options.configFile };
  const files: GrubFileOptions = {
    ...options,
    lockFile: options.lockFile ?? `${options.root ?? ""}${GRUBENV_LOCK}`,
  };
  const inDir = (dir: string) => grubEnv(config, dir, timeoutMs, files);
  const tools = () => {
    const found = findGrubTools(lookup);
    return found && scriptEnv({ kind: "grub", ...found, args: [], timeoutMs });
  };
  switch (config.Bootloader) {
    case "uboot":
      return ubootEnv(config, timeoutMs);
    case "grub": {
      if (config.GrubEnvDir) return inDir(config.GrubEnvDir);
      const found = findGrubEnvDir(lookup);
      return tools() ?? (found ? inDir(found.dir) : fail(
        "CONFIG_INVALID",
        `Bootloader is grub, but no GRUB environment was found: set ENV_DIR in ${
          lookup.configFile ?? GRUBENV_CONFIG
        }, or GrubEnvDir`,
      ));
    }
    case "auto": {
      const dir = config.GrubEnvDir ?? findGrubEnvDir(lookup)?.dir;
      if (config.GrubEnvDir === undefined) {
        const viaTools = tools();
        if (viaTools) return viaTools;
      }
      return dir && existsSync(`${dir}/mender_grubenv1/env`)
        ? inDir(dir)
        : ubootEnv(config, timeoutMs);
    }
  }
}

export function bootEnvFor(config: Config, options: BootEnvOptions = {}): BootEnv {
  return canaryChecked(chooseBootEnv(config, options));
}
