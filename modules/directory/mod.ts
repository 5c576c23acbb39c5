/**
 * Update Module `directory` (protocol v3): replaces a directory with the tree in the
 * artifact's update.tar, atomically and with rollback, surviving a kill at any point.
 * Artifacts of Mender's directory-artifact-gen install unchanged. See README.md.
 */
import { createSteps } from "../common/steps.ts";
import { moduleLog } from "../common/log.ts";
import { destination } from "./destination.ts";
import { cleanup, commit, install, rollback } from "./swap.ts";

const log = moduleLog("directory");

/** Runs one state of the module in the file tree `tree`; returns the exit code. */
export async function run(state: string, tree: string): Promise<number> {
  const steps = createSteps(state);
  switch (state) {
    case "NeedsArtifactReboot":
      console.log("No");
      return 0;
    case "SupportsRollback":
      console.log("Yes");
      return 0;
    case "Download":
      // Files mode: exit without opening stream-next; the client stores files/ itself.
      return 0;
    case "ArtifactInstall":
      await install(tree, await destination(tree), steps, log);
      return 0;
    case "ArtifactCommit":
      await commit(tree, steps, log);
      return 0;
    case "ArtifactRollback":
      await rollback(tree, steps, log);
      return 0;
    case "Cleanup":
      await cleanup(tree, steps, log);
      return 0;
    default:
      // ArtifactFailure, reboot states and states of later protocol versions: nothing to do.
      return 0;
  }
}
