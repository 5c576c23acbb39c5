/**
 * Update Module `docker` (protocol v3): loads the images shipped in the artifact
 * (`docker save` / `podman save` archives) and replaces the named containers, keeping the
 * old ones stopped until commit so that rollback restores them exactly. Works with docker
 * or podman. See README.md.
 */
import { createSteps } from "../common/steps.ts";
import { moduleLog } from "../common/log.ts";
import { readMetaData } from "../common/tree.ts";
import { chooseEngine, engine } from "./engine.ts";
import { parsePlan } from "./meta.ts";
import { cleanup, commit, install, rollback } from "./replace.ts";
import { readState } from "./state.ts";

const log = moduleLog("docker");

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
      // Files mode (the client stores the image archives in files/); fail early when
      // there is no engine, before anything is installed.
      chooseEngine();
      parsePlan(await readMetaData(tree));
      return 0;
    case "ArtifactInstall":
      await install(tree, parsePlan(await readMetaData(tree)), engine(chooseEngine()), steps, log);
      return 0;
    case "ArtifactCommit":
      await commit(tree, steps);
      return 0;
    case "ArtifactRollback": {
      // Nothing recorded: nothing was touched (and no engine may be there at all).
      const recorded = await readState(tree);
      if (recorded) await rollback(tree, engine(recorded.engine), steps, log);
      return 0;
    }
    case "Cleanup": {
      const recorded = await readState(tree);
      if (recorded) await cleanup(tree, engine(recorded.engine), steps, log);
      return 0;
    }
    default:
      return 0;
  }
}
