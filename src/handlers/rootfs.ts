/**
 * The built-in rootfs-image handler: the image streams into the inactive partition, and
 * only after its checksum matched and the data is on disk does the bootloader get pointed
 * at it, with the variables Mender's U-Boot and GRUB integrations use, so a board prepared
 * for Mender boots ota's updates (and the other way round).
 */
import { promises as fs } from "node:fs";
import { fail } from "../errors.ts";
import { atomicWriteFile, readTextIfExists } from "../files.ts";
import { type BootEnv, bootEnvFor } from "./bootloader/mod.ts";
import type { DownloadContext, HandlerContext, PayloadHandler } from "./handler.ts";
import { writePartition } from "./partition_writer.ts";
import { type ActiveProbe, findSlots, partitionSize, type Slots } from "./partitions.ts";
import { downloadAdaptive } from "./rootfs_adaptive.ts";

function origPartFile(ctx: HandlerContext): string {
  return `${ctx.paths.dataDir}/rootfs-image/orig-part`;
}

/** The kernel's id of this boot, kept at install: the same id later means no reboot yet. */
function bootIdFile(ctx: HandlerContext): string {
  return `${ctx.paths.dataDir}/rootfs-image/install-boot-id`;
}

async function bootId(probe: ActiveProbe & { bootId?: string }): Promise<string | undefined> {
  if (probe.bootId !== undefined) return probe.bootId;
  return (await readTextIfExists("/proc/sys/kernel/random/boot_id").catch(() => undefined))?.trim();
}

async function readOrigPart(ctx: HandlerContext): Promise<number | undefined> {
  const text = await readTextIfExists(origPartFile(ctx));
  return text === undefined ? undefined : Number(text.trim());
}

function bootVars(slot: number, upgrade: "0" | "1", bootcount?: string): Record<string, string> {
  return {
    mender_boot_part: String(slot),
    mender_boot_part_hex: slot.toString(16),
    upgrade_available: upgrade,
    ...(bootcount !== undefined ? { bootcount } : {}),
  };
}

/**
 * The slot an update started from when ota did not record it (Mender installed the update):
 * while one is pending, the slot the bootloader is not set to try; else the one it boots.
 */
function slotBefore(
  env: Record<string, string>,
  active: number | undefined,
  inactive: number | undefined,
): number | undefined {
  const next = env.mender_boot_part === undefined ? undefined : Number(env.mender_boot_part);
  if (next === undefined || !Number.isInteger(next)) return active;
  if (env.upgrade_available !== "1") return next;
  return active !== undefined && active !== next ? active : inactive;
}

/**
 * The handler. `bootEnv` and `probe` (how the running slot is found, and this boot's id)
 * default to the device's own; tests give their own.
 */
export function rootfsHandler(
  bootEnv: (ctx: HandlerContext) => BootEnv = (ctx) =>
    bootEnvFor(ctx.config, { debug: ctx.log.debug }),
  probe: ActiveProbe & { bootId?: string } = {},
): PayloadHandler {
  /**
   * The running slot. Where only the bootloader's mender_boot_part tells it (/ on no block
   * device), that names the slot to boot next, which differs from the running one between
   * an install and its reboot: the boot id kept at install tells that time apart.
   */
  async function slots(ctx: HandlerContext, env?: Record<string, string>): Promise<Slots> {
    const found = await findSlots(ctx.config.RootfsPartA, ctx.config.RootfsPartB, {
      ...probe,
      bootPart: env?.mender_boot_part,
    });
    if (found.how !== "bootenv" || env?.upgrade_available !== "1") return found;
    const installedIn = (await readTextIfExists(bootIdFile(ctx)))?.trim();
    if (installedIn === undefined || installedIn !== await bootId(probe)) return found;
    return { active: found.inactive, inactive: found.active, how: found.how };
  }

  return {
    type: "rootfs-image",

    async download(files, ctx: DownloadContext) {
      if (ctx.payload?.augment) {
        // Mender 3.4 writes an augment's unsigned image, and takes its provides: never
        fail(
          "AUGMENT_REFUSED",
          "the rootfs-image handler does not install augmented payloads: the augment, and an " +
            "image it carries, are not covered by the signature",
        );
      }
      const env = await bootEnv(ctx).read();
      const { active, inactive } = await slots(ctx, env);
      if (env.upgrade_available === "1") {
        fail(
          "UPDATE_PENDING",
          "the bootloader has an update pending (upgrade_available=1); commit or roll it back first",
        );
      }
      if (env.mender_boot_part !== undefined && Number(env.mender_boot_part) !== active.number) {
        fail(
          "BOOTENV_MISMATCH",
          `the bootloader is set to boot partition ${env.mender_boot_part}, but ${active.path} is running; ` +
            "reboot first, so that the partition being written is not the one that boots next",
        );
      }
      const capacity = await partitionSize(inactive.path);
      if (await downloadAdaptive(ctx, { active, inactive }, capacity)) return;
      let count = 0;
      for await (const file of files) {
        if (++count > 1) {
          fail("ROOTFS_PAYLOAD", "a rootfs-image payload must hold exactly one file");
        }
        if (file.size > capacity) {
          await file.stream.cancel();
          fail(
            "ROOTFS_TOO_LARGE",
            `the image ${file.name} is ${file.size} bytes; partition ${inactive.path} holds ${capacity}`,
          );
        }
        ctx.log.info(
          `Writing ${file.name} (${file.size} bytes) to the inactive partition ${inactive.path}`,
        );
        const written = await writePartition(inactive.path, file.stream, ctx.onBytes);
        ctx.log.info(`Wrote ${written} bytes to ${inactive.path}; checksum verified`);
      }
      if (count === 0) fail("ROOTFS_PAYLOAD", "the rootfs-image payload has no image file");
    },

    async install(ctx) {
      const { active, inactive } = await slots(ctx, await bootEnv(ctx).read());
      await fs.mkdir(`${ctx.paths.dataDir}/rootfs-image`, { recursive: true });
      await atomicWriteFile(origPartFile(ctx), `${active.number}\n`);
      await atomicWriteFile(bootIdFile(ctx), `${await bootId(probe) ?? ""}\n`);
      await bootEnv(ctx).write(bootVars(inactive.number, "1", "0"));
      ctx.log.info(
        `Bootloader set to try partition ${inactive.number} (${inactive.path}) on the next boot`,
      );
    },

    needsReboot: () => Promise.resolve("Automatic"),
    supportsRollback: () => Promise.resolve(true),
    reboot: () => Promise.resolve(),

    async verifyReboot(ctx) {
      const env = await bootEnv(ctx).read();
      const { active } = await slots(ctx, env);
      if (env.upgrade_available !== "1" || Number(env.mender_boot_part) !== active.number) {
        fail(
          "ROLLED_BACK",
          "the new system is not running: the bootloader rolled back to the previous one",
        );
      }
    },

    async commit(ctx) {
      const env = await bootEnv(ctx).read();
      const { active } = await slots(ctx, env);
      if (env.upgrade_available !== "1") {
        const orig = await readOrigPart(ctx);
        // without ota's record of the old slot (an update Mender installed) this cannot be
        // told from a bootloader rollback: refuse, as Mender does
        if (
          orig !== undefined && Number(env.mender_boot_part) === active.number &&
          orig !== active.number
        ) {
          return; // committed already (a commit interrupted after the bootloader write)
        }
        fail(
          "ROLLED_BACK",
          "the update failed and was reverted by the bootloader (upgrade_available is 0): the new system did not come up; refusing to commit",
        );
      }
      if (Number(env.mender_boot_part) !== active.number) {
        fail(
          "NOT_REBOOTED",
          `the new system (partition ${env.mender_boot_part}) is not running yet: reboot into it, then commit (or roll back)`,
        );
      }
      await bootEnv(ctx).write({ upgrade_available: "0" });
    },

    async rollback(ctx) {
      const env = await bootEnv(ctx).read();
      const { active, inactive } = await slots(ctx, env).catch(() => ({
        active: undefined,
        inactive: undefined,
      }));
      const orig = await readOrigPart(ctx) ?? slotBefore(env, active?.number, inactive?.number);
      if (orig === undefined) {
        fail("ROLLBACK_FAILED", "cannot tell which partition to roll back to");
      }
      if (env.upgrade_available === "1" || Number(env.mender_boot_part) !== orig) {
        await bootEnv(ctx).write(bootVars(orig, "0"));
        ctx.log.info(`Bootloader set back to partition ${orig}`);
      }
      if (active && active.number !== orig) {
        ctx.log.info(
          `The new system on ${active.path} is running: reboot to return to ${inactive?.path}`,
        );
      }
    },

    rollbackReboot: () => Promise.resolve(),

    async verifyRollbackReboot(ctx) {
      const env = await bootEnv(ctx).read();
      const { active } = await slots(ctx, env);
      if (env.upgrade_available === "1" || Number(env.mender_boot_part) !== active.number) {
        fail("ROLLBACK_FAILED", "the previous system is not running after the rollback reboot");
      }
    },

    failure: () => Promise.resolve(),

    async cleanup(ctx) {
      await fs.rm(origPartFile(ctx), { force: true });
      await fs.rm(bootIdFile(ctx), { force: true });
    },
  };
}
