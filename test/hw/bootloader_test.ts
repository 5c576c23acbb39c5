/**
 * The boards' bootloaders alone, driven the way an update client drives them (fw_setenv /
 * grub-editenv in the guest), before any ota command is involved: the switch to the other
 * slot on trial, the boot counter, the fallback after a trial that never commits, a commit,
 * a kernel the bootloader cannot load, and (OTA_HW_FULL=1; ota_test.ts always has one) a
 * kernel that panics.
 */
import {
  expect,
  expectBootloaderFallback,
  fail,
  FULL,
  onEachBoard,
  step,
  unavailable,
  usbFiles,
} from "./harness/scenario.ts";
import { defined } from "../helpers/assert.ts";

Deno.test({
  name:
    "emulated boards, bootloader alone: trial boot, fallback, commit, unloadable kernel (and a panic with OTA_HW_FULL=1)",
  ignore: unavailable !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await onEachBoard(async (board) => {
    const raw = board.images.rootfs;
    const usb = await usbFiles(board, {
      "release-2.ext4": defined(raw["release-2"], "the release-2 image"),
      "panic.ext4": defined(raw.panic, "the panic image"),
      "broken-kernel.ext4": defined(raw["broken-kernel"], "the broken-kernel image"),
    });
    const switchTo = (part: number, file: string) =>
      [step.writeSlot(part, file), step.trial(part), step.env, step.reboot].join("\n");

    let boot = await board.boot(`${step.env}\n${switchTo(3, "release-2.ext4")}`, { usbFiles: usb });
    expect(boot, "factory boot", {
      part: 2,
      release: "release-1",
      end: "reboot",
      rc: { dd: 0, setenv: 0 },
      env: { mender_boot_part: "3", upgrade_available: "1", bootcount: "0" },
    });

    boot = await board.boot(`${step.env}\n${step.reboot}`);
    expect(boot, "trial boot of the new slot, not committed", {
      part: 3,
      release: "release-2",
      env: { mender_boot_part: "3", upgrade_available: "1", bootcount: "1" },
    });

    // the panic is always covered with ota in ota_test.ts; here only with OTA_HW_FULL=1
    const next = FULL ? "panic.ext4" : "release-2.ext4";
    boot = await board.boot(`${step.env}\n${switchTo(3, next)}`, { usbFiles: usb });
    expect(boot, "boot after a trial that never committed", {
      part: 2,
      release: "release-1",
      env: { mender_boot_part: "3", upgrade_available: "1" },
    });
    expectBootloaderFallback(boot, "boot after a trial that never committed");

    if (FULL) {
      boot = await board.boot("");
      expect(boot, "trial of a release whose kernel panics", { noUserspace: true, end: "reset" });
      if (!boot.panicked) fail(`the panic release did not panic:\n${boot.console.slice(-2000)}`);
      boot = await board.boot(switchTo(3, "release-2.ext4"), { usbFiles: usb });
      expect(boot, "boot after the kernel panic", { part: 2, release: "release-1" });
      expectBootloaderFallback(boot, "boot after the kernel panic");
    }

    boot = await board.boot(`${step.commit}\n${step.env}\n${switchTo(2, "broken-kernel.ext4")}`, {
      usbFiles: usb,
    });
    expect(boot, "trial boot, committed, then slot A gets a kernel that cannot load", {
      part: 3,
      release: "release-2",
      env: { mender_boot_part: "2", upgrade_available: "1", bootcount: "0" },
    });

    boot = await board.boot("");
    expect(boot, "trial of a release whose kernel cannot be loaded", {
      noUserspace: true,
      end: "reset",
    });
    if (!boot.loader.some((l) => /try-to-recover/.test(l.text))) {
      fail(`the boot script did not reset to recover: ${boot.loader.map((l) => l.text)}`);
    }

    boot = await board.boot(step.env);
    expect(boot, "boot after the unloadable kernel", {
      part: 3,
      release: "release-2",
      end: "poweroff",
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });
    expectBootloaderFallback(boot, "boot after the unloadable kernel");
  });
});
