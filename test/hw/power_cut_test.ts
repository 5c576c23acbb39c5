/**
 * Power cuts on the emulated boards: QEMU is killed (SIGKILL) at named points of an
 * install and of a commit, so whatever the guest had not written to its disk is lost.
 * After each cut the board is powered on again and does what a device does at boot (`ota
 * resume`, then the health check commits a trial boot), and must settle: a whole system
 * runs, the bootloader has no trial pending and boots what runs, `ota show-artifact` names
 * the running release, and no update is left in progress.
 *
 * Cut points: the write (device state script Download_Enter, 10 %, 50 % and 100 % of the
 * image written, Download_Leave), the bootloader switch (the artifact's ArtifactInstall_Enter
 * script, just before and just after the real fw_setenv, or between grub-editenv's writes of
 * the two GRUB copies, ArtifactInstall_Leave, and right after `ota install` returned), and
 * the commit (the same around ArtifactCommit). The default run takes a fast subset;
 * OTA_HW_FULL=1 runs all of them.
 */
import type { Board } from "./harness/board.ts";
import {
  describe,
  expect,
  fail,
  FULL,
  onEachBoard,
  unavailable,
  usbFiles,
} from "./harness/scenario.ts";
import { defined } from "../helpers/assert.ts";

type Phase = "install" | "commit";

interface Cut {
  name: string;
  phase: Phase;
  /** Stop the install once it has written this fraction of the image. */
  writeFraction?: number;
  /** Which release runs once the board has settled. */
  settles: "old" | "new";
  /** In the fast subset. */
  fast?: boolean;
}

function cuts(bootloader: "uboot" | "grub"): Cut[] {
  const write: Cut[] = [
    { name: "Download_Enter", phase: "install", settles: "old" },
    { name: "write.10pct", phase: "install", writeFraction: 0.1, settles: "old" },
    { name: "write.50pct", phase: "install", writeFraction: 0.5, settles: "old", fast: true },
    { name: "write.100pct", phase: "install", writeFraction: 1, settles: "old" },
    { name: "Download_Leave", phase: "install", settles: "old" },
  ];
  // U-Boot: one fw_setenv call. GRUB: grub-editenv marks, writes and unmarks copy 1, then
  // copy 2 (calls 1-3, 4-6): after call 2 copy 1 holds new values but is marked; after
  // call 4 copy 1 is whole and copy 2 is marked.
  const switching: Cut[] = bootloader === "uboot"
    ? [
      { name: "ArtifactInstall_Enter", phase: "install", settles: "old" },
      { name: "fw_setenv.1.before", phase: "install", settles: "old" },
      { name: "fw_setenv.1.after", phase: "install", settles: "old", fast: true },
      { name: "ArtifactInstall_Leave", phase: "install", settles: "old" },
      { name: "install-done", phase: "install", settles: "new", fast: true },
    ]
    : [
      { name: "ArtifactInstall_Enter", phase: "install", settles: "old" },
      { name: "grub-editenv.2.after", phase: "install", settles: "old" },
      { name: "grub-editenv.4.after", phase: "install", settles: "old", fast: true },
      { name: "ArtifactInstall_Leave", phase: "install", settles: "old" },
      { name: "install-done", phase: "install", settles: "new", fast: true },
    ];
  const commit: Cut[] = bootloader === "uboot"
    ? [
      { name: "ArtifactCommit_Enter", phase: "commit", settles: "old" },
      { name: "fw_setenv.1.before", phase: "commit", settles: "old", fast: true },
      { name: "fw_setenv.1.after", phase: "commit", settles: "new" },
      { name: "ArtifactCommit_Leave", phase: "commit", settles: "new" },
      { name: "commit-done", phase: "commit", settles: "new" },
    ]
    : [
      { name: "ArtifactCommit_Enter", phase: "commit", settles: "old" },
      { name: "grub-editenv.2.after", phase: "commit", settles: "old", fast: true },
      { name: "grub-editenv.4.after", phase: "commit", settles: "new" },
      { name: "ArtifactCommit_Leave", phase: "commit", settles: "new" },
      { name: "commit-done", phase: "commit", settles: "new" },
    ];
  return [...write, ...switching, ...commit].filter((c) => FULL || c.fast);
}

/** After a cut: finish or clean up interrupted work, commit a trial boot, report, reboot. */
const RECOVER = `hw_ota resume resume
if hw_is_trial; then hw_ota commit commit; fi
hw_env
hw_reboot`;

/** The checks of a settled board, as a step prefix; then STEP continues on it. */
const SETTLED = `hw_env
hw_run show ota show-artifact
hw_run pending ota commit`;

async function settledBoot(
  board: Board,
  what: string,
  release: string,
  next: string,
  options: { usb?: string; cut?: string } = {},
) {
  const boot = await board.boot(`${SETTLED}\n${next}`, { usbFiles: options.usb, cut: options.cut });
  expect(boot, what, {
    release,
    rc: { show: 0, pending: 2 },
    says: { show: new RegExp(`^${release}$`, "m") },
    env: { upgrade_available: "0", mender_boot_part: String(boot.part) },
  });
  return boot;
}

Deno.test({
  name: `emulated boards, power cuts during write, bootloader switch and commit (${
    FULL ? "full matrix" : "fast subset; OTA_HW_FULL=1 for all"
  })`,
  ignore: unavailable !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await onEachBoard(async (board) => {
    let running = "release-1";
    let previous = "the factory";
    for (const cut of cuts(board.bootloader)) {
      const next = running === "release-2" ? "release-3" : "release-2";
      const what = `${cut.phase} cut at ${cut.name} (${running} -> ${next})`;
      const artifact = defined(board.images.artifacts[next], `artifact ${next}`);
      const usb = await usbFiles(board, { [`${next}.mender`]: artifact });
      const bytes = (await Deno.stat(defined(board.images.rootfs[next], `image ${next}`))).size;
      const writeCut = cut.writeFraction
        ? `HW_WRITE_CUT="${Math.floor(bytes * cut.writeFraction)} ${cut.name}"\n`
        : "";
      const install =
        `hw_mount_usb\n${writeCut}hw_ota install install /mnt/usb/${next}.mender\nhw_cut install-done\nhw_reboot`;
      let boot = await settledBoot(board, `settled after ${previous}`, running, install, {
        usb,
        cut: cut.phase === "install" ? cut.name : undefined,
      });
      if (cut.phase === "commit") {
        expect(boot, `install before ${what}`, { rc: { install: 0 }, end: "reboot" });
        boot = await board.boot("hw_ota commit commit\nhw_cut commit-done\nhw_reboot", {
          cut: cut.name,
        });
        expect(boot, `trial boot of ${what}`, { release: next });
      }
      if (boot.end !== "cut") fail(`${what}: the cut point was never reached\n${describe(boot)}`);

      boot = await board.boot(RECOVER);
      if (boot.part === undefined || boot.end !== "reboot") {
        fail(`${what}: the board did not come up whole after the cut\n${describe(boot)}`);
      }
      running = cut.settles === "old" ? running : next;
      previous = `${what}, expected to settle on ${running}`;
    }
    await settledBoot(board, `settled after ${previous}`, running, "");
  });
});
