/**
 * One power-on of the simulated board, with U-Boot's boot-count rules as Mender's
 * integration sets them up (bootcount, bootlimit, altbootcmd):
 *   - with upgrade_available=1, every boot increments bootcount and saves it;
 *   - when bootcount exceeds bootlimit, altbootcmd runs instead: it switches
 *     mender_boot_part(_hex) to the other slot and clears upgrade_available;
 *   - the slot named by mender_boot_part then "runs" (DIR/booted, slot links).
 * Two boots without a commit in between therefore mean the new system failed. A GRUB
 * board follows grub-mender-grubenv's script instead, which allows one trial boot.
 */
import { type Device, envDump, envSet, linkSlots, slotFile } from "./device.ts";

export interface BootResult {
  /** The partition number now running. */
  part: number;
  rolledBack: boolean;
  /** /etc/slot-id of the running slot. */
  slotId: string;
}

export async function boot(device: Device): Promise<BootResult> {
  const env = await envDump(device);
  let part = Number(env.mender_boot_part ?? 2);
  let rolledBack = false;
  if (device.bootloader === "grub") {
    // grub-mender-grubenv allows one trial boot: a second one with upgrade_available=1 rolls back
    if (env.upgrade_available === "1") {
      if (env.bootcount !== "0") {
        part = part === 2 ? 3 : 2;
        rolledBack = true;
        await envSet(device, {
          mender_boot_part: String(part),
          upgrade_available: "0",
          bootcount: "0",
        });
      } else {
        await envSet(device, { bootcount: "1" });
      }
    }
  } else if (env.upgrade_available === "1") {
    const count = Number(env.bootcount ?? 0) + 1;
    const limit = Number(env.bootlimit ?? 1);
    if (count > limit) {
      part = part === 2 ? 3 : 2;
      rolledBack = true;
      await envSet(device, {
        bootcount: String(count),
        mender_boot_part: String(part),
        mender_boot_part_hex: part.toString(16),
        upgrade_available: "0",
      });
    } else {
      await envSet(device, { bootcount: String(count) });
    }
  }
  if (part !== 2 && part !== 3) throw new Error(`mender_boot_part=${part}: no bootable slot`);
  await Deno.writeTextFile(`${device.dir}/booted`, `${part}\n`);
  await linkSlots(device);
  return { part, rolledBack, slotId: (await slotFile(device, part, "/etc/slot-id")).trim() };
}
