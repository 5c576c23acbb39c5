/**
 * The dfu module's states: flash with a way back, verify the board runs what it was
 * given, and put the old image back when it does not. Each step is recorded in the
 * journal before it touches the board, so a rollback after a crash knows what to undo.
 */
import { promises as fs } from "node:fs";
import { fail, isOtaError } from "../../src/errors.ts";
import { artifactName, payloadFiles } from "../common/tree.ts";
import { type BoardOps, type Found, layoutSegments } from "./board.ts";
import {
  backupFile,
  lastInstalled,
  readJournal,
  recordInstalled,
  writeJournal,
} from "./journal.ts";
import type { Settings } from "./settings.ts";

const ROLLBACK_ATTEMPTS = 3;
/** Seconds a board may sit in its bootloader after a reset before we say it did not boot. */
const BOOTLOADER_SETTLE = 5;

export interface Context {
  tree: string;
  settings: Settings;
  ops: BoardOps;
  log: (message: string) => void;
}

export async function firmwareFile(tree: string): Promise<string> {
  const files = await payloadFiles(tree);
  if (files.length !== 1) {
    fail(
      "DFU_PAYLOAD",
      `a dfu artifact carries exactly one firmware file; this one has ${files.length}` +
        (files.length ? ` (${files.join(", ")})` : ""),
    );
  }
  return `${tree}/files/${files[0]}`;
}

export async function install(ctx: Context): Promise<void> {
  const { tree, settings: { board, gateway }, ops, log } = ctx;
  const image = await firmwareFile(tree);
  const size = (await fs.stat(image)).size;
  const before = await ops.require();
  const journal = await readJournal(tree);
  journal.previousName = before.iface.mode === "runtime" ? before.iface.name : undefined;
  journal.previousVersion = (await lastInstalled(gateway.stateDir, board.target))?.version;
  journal.phase = "detached";
  await writeJournal(tree, journal);
  const dfu = await ops.enterDfu();
  try {
    checkFits(dfu, size, board.dfuseAddress);
  } catch (error) {
    await ops.reset(dfu); // nothing was written: let the board run its old firmware again
    throw error;
  }

  // The way back, before anything is written: read the flash, else the last install.
  if (await ops.upload(dfu, backupFile(tree))) {
    journal.backup = "upload";
    log("saved the board's current firmware (DFU upload)");
  } else {
    const last = await lastInstalled(gateway.stateDir, board.target);
    if (last) {
      await fs.copyFile(last.image, backupFile(tree));
      journal.backup = "installed";
      log(`the board does not allow upload; will roll back to the last installed image`);
    } else if (!board.allowNoBackup) {
      await ops.reset(dfu);
      fail(
        "DFU_NO_BACKUP",
        `the board's firmware cannot be read back (no DFU upload) and ota has not installed ` +
          `one before, so a rollback would be impossible; set "allow_no_backup": true in the ` +
          `meta-data to flash anyway`,
      );
    }
  }
  journal.phase = "flashing";
  await writeJournal(tree, journal);
  log(`flashing ${size} bytes`);
  await ops.download(dfu, image);
  journal.phase = "flashed";
  await writeJournal(tree, journal);
  // Fail here already when the board does not come up with the new firmware, so that every
  // client (standalone ones skip ArtifactVerifyReboot) rolls back at once.
  await verify(ctx);
}

/** Refuses an image that cannot fit before anything is written (DfuSe layouts only). */
function checkFits(found: Found, size: number, address: number | undefined): void {
  const segments = found.all.filter((i) => i.alt === found.iface.alt).flatMap((i) =>
    layoutSegments(i.name)
  );
  if (address === undefined) return;
  if (segments.length === 0) return;
  const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
  const segment = segments.find((s) => address >= s.start && address < s.end);
  if (!segment) {
    fail(
      "DFU_ADDRESS",
      `dfuse_address ${hex(address)} is outside the board's memory ` +
        `(${segments.map((s) => `${hex(s.start)}-${hex(s.end - 1)}`).join(", ")}); ` +
        `the board was not written`,
    );
  }
  if (address + size > segment.end) {
    fail(
      "DFU_TOO_LARGE",
      `the firmware (${size} bytes) does not fit: ${segment.end - address} bytes from ` +
        `${hex(address)} to the end of the board's memory; the board was not written`,
    );
  }
}

/** The board is back on the bus, runs its application, and it is the expected one. */
export async function verify(ctx: Context): Promise<void> {
  const { tree, settings: { board, gateway }, ops, log } = ctx;
  let found = await ops.waitFor("runtime", undefined, BOOTLOADER_SETTLE);
  if (!found) {
    const any = await ops.find();
    if (any?.iface.mode === "dfu") {
      fail(
        "DFU_NOT_BOOTED",
        `the board stayed in its bootloader after the update: it did not start the new ` +
          `firmware`,
      );
    }
    fail(
      "DFU_NO_DEVICE",
      `the board did not come back on the USB bus within ${gateway.enumerationTimeout} s`,
    );
  }
  if (board.verify === "name" && board.version) {
    if (!hasToken(found.iface.name, board.version)) {
      fail(
        "DFU_VERSION_MISMATCH",
        `the board reports "${found.iface.name}", not version ${board.version}`,
      );
    }
  } else if (board.verify === "upload") {
    const image = await firmwareFile(tree);
    const dfu = await ops.enterDfu();
    const readBack = `${tree}/tmp/dfu-readback.bin`;
    const size = (await fs.stat(image)).size;
    const ok = await ops.upload(dfu, readBack, size) && await samePrefix(image, readBack);
    await ops.reset(dfu);
    found = await ops.waitFor("runtime");
    if (!ok) fail("DFU_VERSION_MISMATCH", "the board's flash does not hold the new firmware");
    if (!found) fail("DFU_NO_DEVICE", "the board did not restart after the read-back");
  }
  log(`the board runs "${found.iface.name}"`);
  const journal = await readJournal(tree);
  journal.phase = "verified";
  await writeJournal(tree, journal);
}

/** ArtifactReboot: a board left in DFU mode is reset so that it starts its application. */
export async function reboot(ctx: Context): Promise<void> {
  const found = await ctx.ops.waitFor("any");
  if (found?.iface.mode === "dfu") {
    await ctx.ops.reset(found);
    await ctx.ops.waitFor("runtime");
  }
}

export async function commit(ctx: Context): Promise<void> {
  const { tree, settings: { board, gateway }, log } = ctx;
  const journal = await readJournal(tree);
  // Standalone clients never run ArtifactVerifyReboot: verify here when it did not happen.
  if (journal.phase !== "verified") await verify(ctx);
  await recordInstalled(gateway.stateDir, board.target, await firmwareFile(tree), {
    version: board.version,
    artifact: await artifactName(tree),
  });
  log(`committed${board.version ? ` version ${board.version}` : ""}`);
}

export async function rollback(ctx: Context): Promise<void> {
  const { tree, ops, log } = ctx;
  const journal = await readJournal(tree);
  if (journal.phase === "idle" || journal.phase === "rolled-back") return;
  if (journal.phase === "detached") {
    // Nothing was written; a board still in DFU mode only needs to start again.
    const found = await ops.waitFor("any");
    if (found?.iface.mode === "dfu") await ops.reset(found);
    journal.phase = "rolled-back";
    await writeJournal(tree, journal);
    return;
  }
  if (!journal.backup) {
    fail("DFU_NO_BACKUP", "there is no saved firmware to roll back to (allow_no_backup was set)");
  }
  // The board may be running the new image, sitting in its bootloader, or coming back from
  // a power loss or a watchdog reset: wait for it in any mode, and try more than once.
  for (let attempt = 1;; attempt++) {
    const found = await ops.waitFor("any");
    if (!found) {
      fail(
        "DFU_NO_DEVICE",
        `cannot roll back: the board is not on the USB bus; the saved firmware stays in ` +
          `${backupFile(tree)} and the rollback is retried when the client runs it again`,
      );
    }
    try {
      const dfu = found.iface.mode === "dfu" ? found : await ops.enterDfu();
      log(`flashing the saved firmware back (${journal.backup}), attempt ${attempt}`);
      await ops.download(dfu, backupFile(tree));
      break;
    } catch (error) {
      if (attempt >= ROLLBACK_ATTEMPTS || !isOtaError(error)) throw error;
      log(`rollback attempt ${attempt} failed: ${error.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  journal.phase = "rolled-back";
  await writeJournal(tree, journal);
  await verifyRollback(ctx);
}

/** After a rollback the board must run again, with its old firmware when we know it. */
export async function verifyRollback(ctx: Context): Promise<void> {
  const { tree, ops, log } = ctx;
  const journal = await readJournal(tree);
  if (journal.phase === "idle") return;
  const found = await ops.waitFor("runtime");
  if (!found) fail("DFU_NOT_BOOTED", "the board does not run its application after the rollback");
  if (journal.previousName && found.iface.name !== journal.previousName) {
    fail(
      "DFU_VERSION_MISMATCH",
      `after the rollback the board reports "${found.iface.name}", ` +
        `expected "${journal.previousName}"`,
    );
  }
  log(`rolled back: the board runs "${found.iface.name}"`);
}

function hasToken(text: string, token: string): boolean {
  const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^0-9A-Za-z.])${escaped}($|[^0-9A-Za-z.])`).test(text);
}

async function samePrefix(image: string, readBack: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.readFile(image), fs.readFile(readBack)]);
  return b.length >= a.length && Buffer.compare(a, b.subarray(0, a.length)) === 0;
}
