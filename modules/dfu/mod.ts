/**
 * Update Module `dfu` (protocol v3): updates a microcontroller attached over USB through
 * the real dfu-util, with a saved copy of the old firmware, verification after the board
 * restarts, and rollback. See README.md for the meta-data and the gateway settings.
 */
import { moduleLog } from "../common/log.ts";
import { boardOps } from "./board.ts";
import { dfuUtil } from "./dfu_util.ts";
import {
  commit,
  type Context,
  install,
  reboot,
  rollback,
  verify,
  verifyRollback,
} from "./flash.ts";
import { readSettings } from "./settings.ts";

const log = moduleLog("dfu");

/** Runs one state of the module in the file tree `tree`; returns the exit code. */
export async function run(state: string, tree: string): Promise<number> {
  switch (state) {
    // The shim (modules/dfu/dfu) answers these two and skips ArtifactFailure and Cleanup
    // itself; keep both in step.
    case "NeedsArtifactReboot":
      // "Yes": the module restarts the board (never the gateway) in ArtifactReboot, and
      // ArtifactVerifyReboot checks what it runs.
      console.log("Yes");
      return 0;
    case "SupportsRollback":
      console.log("Yes");
      return 0;
    case "Download": {
      // Files mode (dfu-util needs a file): exit without opening stream-next. Settings and
      // dfu-util are checked now, while nothing has been done to the board.
      const ctx = await context(tree);
      await ctx.ops.find();
      return 0;
    }
    case "ArtifactInstall":
      await install(await context(tree));
      return 0;
    case "ArtifactReboot":
      await reboot(await context(tree));
      return 0;
    case "ArtifactVerifyReboot":
      await verify(await context(tree));
      return 0;
    case "ArtifactCommit":
      await commit(await context(tree));
      return 0;
    case "ArtifactRollback":
      await rollback(await context(tree));
      return 0;
    case "ArtifactRollbackReboot":
      await reboot(await context(tree));
      return 0;
    case "ArtifactVerifyRollbackReboot":
      await verifyRollback(await context(tree));
      return 0;
    default:
      // ArtifactFailure, Cleanup (the client removes tmp/) and states of later versions.
      return 0;
  }
}

async function context(tree: string): Promise<Context> {
  const settings = await readSettings(tree);
  const dfu = dfuUtil(settings.gateway, log);
  return { tree, settings, ops: boardOps(settings.board, settings.gateway, dfu, log), log };
}
