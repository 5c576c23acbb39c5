/**
 * ota on the emulated boards, the way an integrator would try it before shipping: install
 * from a USB stick, reboot into the new slot, commit; refusals that must leave the device
 * untouched (an image larger than the slot, a second install while one is pending); a
 * rollback before the reboot; a new system that never commits and a kernel that panics,
 * where the bootloader itself falls back and ota refuses to commit afterwards.
 */
import {
  expect,
  expectBootloaderFallback,
  onEachBoard,
  unavailable,
  usbFiles,
} from "./harness/scenario.ts";
import { defined } from "../helpers/assert.ts";

Deno.test({
  name: "emulated boards, ota: USB install and commit, refusals, rollback, no commit, kernel panic",
  ignore: unavailable !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await onEachBoard(async (board) => {
    const art = board.images.artifacts;
    const stick = (names: string[]) =>
      usbFiles(
        board,
        Object.fromEntries(names.map((n) => [`${n}.mender`, defined(art[n], `artifact ${n}`)])),
      );

    let boot = await board.boot(
      `hw_mount_usb
hw_run show-before ota show-artifact
hw_run too-large ota install /mnt/usb/too-large.mender
hw_env
hw_run install ota install /mnt/usb/release-2.mender
hw_run second ota install /mnt/usb/release-3.mender
hw_run show-pending ota show-artifact
hw_env
hw_reboot`,
      { usbFiles: await stick(["too-large", "release-2", "release-3"]) },
    );
    expect(boot, "install of release-2 from the USB stick", {
      part: 2,
      release: "release-1",
      rc: { "show-before": 0, "too-large": 1, install: 0, second: 1, "show-pending": 0 },
      says: {
        "show-before": /^release-1$/m,
        "too-large": /too-large|ROOTFS_TOO_LARGE/,
        second: /in progress/,
        "show-pending": /^release-1$/m,
      },
      env: { mender_boot_part: "3", upgrade_available: "1", bootcount: "0" },
    });

    boot = await board.boot(
      `hw_env
hw_run commit ota commit
hw_run again ota commit
hw_run show ota show-artifact
hw_run provides ota show-provides
hw_mount_usb
hw_run install ota install /mnt/usb/release-3.mender
hw_run rollback ota rollback
hw_env
hw_reboot`,
      { usbFiles: await stick(["release-3"]) },
    );
    expect(boot, "trial boot of release-2, commit, then install and roll back release-3", {
      part: 3,
      release: "release-2",
      rc: { commit: 0, again: 2, show: 0, provides: 0, install: 0, rollback: 0 },
      says: { show: /^release-2$/m, provides: /rootfs-image\.version=release-2/ },
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });

    boot = await board.boot(
      `hw_run show ota show-artifact
hw_mount_usb
hw_run install ota install /mnt/usb/release-3.mender
hw_reboot`,
      { usbFiles: await stick(["release-3"]) },
    );
    expect(boot, "boot after the rollback, then install release-3", {
      part: 3,
      release: "release-2",
      rc: { show: 0, install: 0 },
      says: { show: /^release-2$/m },
    });

    boot = await board.boot(`hw_env\nhw_reboot`);
    expect(boot, "trial boot of release-3, rebooted without commit", {
      part: 2,
      release: "release-3",
      env: { mender_boot_part: "2", upgrade_available: "1" },
    });

    boot = await board.boot(
      `hw_run commit ota commit
hw_run show ota show-artifact
hw_env
hw_mount_usb
hw_run install ota install /mnt/usb/panic.mender
hw_reboot`,
      { usbFiles: await stick(["panic"]) },
    );
    expect(boot, "boot after the uncommitted trial", {
      part: 3,
      release: "release-2",
      rc: { commit: 1, show: 0, install: 0 },
      says: { show: /^release-2$/m },
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });
    expectBootloaderFallback(boot, "boot after the uncommitted trial");

    boot = await board.boot("");
    expect(boot, "trial boot of the release whose kernel panics", {
      noUserspace: true,
      end: "reset",
    });

    boot = await board.boot(`hw_run commit ota commit
hw_run show ota show-artifact
hw_run none ota commit
hw_env`);
    expect(boot, "boot after the kernel panic", {
      part: 3,
      release: "release-2",
      end: "poweroff",
      rc: { commit: 1, show: 0, none: 2 },
      says: { show: /^release-2$/m },
      env: { mender_boot_part: "3", upgrade_available: "0" },
    });
    expectBootloaderFallback(boot, "boot after the kernel panic");
  });
});
