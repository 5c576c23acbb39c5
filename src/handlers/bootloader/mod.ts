/**
 * The bootloader environment behind one interface, so the A/B handler, the simulated
 * device and the emulated boards share it: U-Boot through fw_printenv/fw_setenv, GRUB through
 * grub-editenv with grub-mender-grubenv's two-copy layout.
 */
import { existsSync } from "node:fs";
import type { Config } from "../../device/config.ts";
import { fail } from "../../errors.ts";
import type { BootEnv } from "./env.ts";
import { grubEnv } from "./grub.ts";
import { ubootEnv } from "./uboot.ts";

export type { BootEnv } from "./env.ts";

export function bootEnvFor(config: Config): BootEnv {
  switch (config.Bootloader) {
    case "uboot":
      return ubootEnv(config);
    case "grub":
      if (!config.GrubEnvDir) {
        fail("CONFIG_INVALID", "Bootloader is grub, but GrubEnvDir is not set");
      }
      return grubEnv(config, config.GrubEnvDir);
    case "auto": {
      const grubDir = config.GrubEnvDir ??
        ["/boot/efi/grub-mender-grubenv", "/boot/grub/grub-mender-grubenv"]
          .find((dir) => existsSync(`${dir}/mender_grubenv1/env`));
      return grubDir && existsSync(`${grubDir}/mender_grubenv1/env`)
        ? grubEnv(config, grubDir)
        : ubootEnv(config);
    }
  }
}
