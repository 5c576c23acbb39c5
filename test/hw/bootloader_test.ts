/**
 * The boards' bootloaders alone, driven the way an update client drives them (fw_setenv /
 * grub-editenv in the guest), before any ota command is involved: the switch to the other
 * slot on trial, the boot counter, the fallback after a trial that never commits, a kernel
 * that panics, a kernel the bootloader cannot load.
 */
import {
  expect,
  expectBootloaderFallback,
  onEachBoard,
  step,
  unavailable,
  usbFiles,
} from "./harness/scenario.ts";

Deno.test({
  name:
    "emulated boards, bootloader alone: trial boot, fallback, kernel panic, unloadable kernel, commit",
  ignore: unavailable !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await onEachBoard(async (board) => {
    const raw = board.images.rootfs;
    const usb = await usbFiles(board, {
      "release-2.ext4": raw["release-2"],
      "panic.ext4": raw.panic,
      "broken-kernel.ext4": raw["broken-kernel"],
    });
    const switchTo = (file: string) =>
      [step.writeSlot(3, file), step.trial(3), step.env, step.reboot].join("\n");

    let boot = await board.boot(`${step.env}\n${switchTo("release-2.ext4")}`, { usbFiles: usb });
    expect(boot, "factory boot", {
      part: 2,
      release: "release-1",
      end: "reboot",
      rc: { dd: 0, setenv: 0 },
      env: { mender_boot_part: "3", upgrade_available: "1", bootcount: "0" },
    });

    boot = await board.boot(`${step.env}\n${step.reboot}`);
    expect(boot, "trial boot of the new slot", {
      part: 3,
      release: "release-2",
      env: { mender_boot_part: "3", upgrade_available: "1", bootcount: "1" },
    });

    boot = await board.boot(`${step.env}\n${switchTo("panic.ext4")}`, { usbFiles: usb });
    expect(boot, "boot after a trial that never committed", {
      part: 2,
      release: "release-1",
      env: { mender_boot_part: "3", upgrade_available: "1" },
    });
    expectBootloaderFallback(boot, "boot after a trial that never committed");

    boot = await board.boot("");
    expect(boot, "trial of a release whose kernel panics", { noUserspace: true, end: "reset" });
    if (!boot.panicked) {
      throw new Error(`the panic release did not panic:\n${boot.console.slice(-2000)}`);
    }

    boot = await board.boot(`${step.env}\n${switchTo("broken-kernel.ext4")}`, { usbFiles: usb });
    expect(boot, "boot after the kernel panic", { part: 2, release: "release-1" });
    expectBootloaderFallback(boot, "boot after the kernel panic");

    boot = await board.boot("");
    expect(boot, "trial of a release whose kernel cannot be loaded", {
      noUserspace: true,
      end: "reset",
    });
    // U-Boot refuses the image and resets (mender_try_to_recover); GRUB 2.06 loads the
    // truncated bzImage, jumps into it and the CPU resets: either way, a reset, no userspace.
    if (board.bootloader === "uboot" && !boot.loader.some((l) => /try-to-recover/.test(l.text))) {
      throw new Error(`U-Boot did not reset to recover: ${boot.loader.map((l) => l.text)}`);
    }

    boot = await board.boot(`${step.env}\n${switchTo("release-2.ext4")}`, { usbFiles: usb });
    expect(boot, "boot after the unloadable kernel", { part: 2, release: "release-1" });
    expectBootloaderFallback(boot, "boot after the unloadable kernel");

    boot = await board.boot(`${step.commit}\n${step.env}\n${step.reboot}`);
    expect(boot, "trial boot, committed", {
      part: 3,
      release: "release-2",
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });

    boot = await board.boot(step.env);
    expect(boot, "boot after the commit", {
      part: 3,
      release: "release-2",
      end: "poweroff",
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });
  });
});
